// Package version carries the build's version, set at link time:
// go build -ldflags "-X github.com/kordon/kordon/internal/version.Version=v1.2.3"
package version

// Version of this build.
var Version = "dev"
