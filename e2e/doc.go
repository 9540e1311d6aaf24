// Package e2e holds end-to-end tests of a whole crossing: recorded traces
// played through pseudo-terminals into edged, over MQTT into hubd (or into
// Debian's mosquitto, as an independent broker), to stored alerts.
package e2e
