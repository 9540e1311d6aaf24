// Package layers holds no code: its tests check that the module's imports
// point one way. Drivers import nothing from edge or hub; shared packages
// under internal/ import nothing above them; the programs that run at a
// crossing link no fakes, test kits or replay tooling.
package layers
