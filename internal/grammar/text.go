package grammar

import "unicode/utf8"

// Bounds for device-supplied text in readings. A reading that fails its
// own schema is refused by the hub, so every text a device sends is cut to
// these before it reaches a payload or a quality reason.
const (
	// MaxReason is the envelope's limit for quality.reason
	// (internal/schema/reading.v2.json).
	MaxReason = 512
	// MaxText is the limit for a device-supplied payload text field (the
	// payload schemas say the same with maxLength).
	MaxText = 256
	// MaxQuoted is how much of a bad value a reason quotes.
	MaxQuoted = 40
)

// Clip bounds s to n bytes, cut at a character boundary and marked with
// "..." when cut. Invalid UTF-8 is kept as it is up to the cut (the JSON
// encoder replaces it).
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 3 {
		return s[:n]
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
