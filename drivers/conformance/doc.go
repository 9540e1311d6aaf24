// Package conformance holds only the test every registered device family
// must pass (conformance_test.go): its kind agrees everywhere, its schema
// validates its goldens, every trace has a golden, its README's config
// examples parse, its rules compile, its words exist in every complete
// language, its booth view exists, and README.md's family list is current.
// It is a package of its own because the test needs edge, hub and i18n,
// which the drivers must never import.
package conformance
