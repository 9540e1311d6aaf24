// Package record parses the CSV lines radiation portal monitors send: a
// two-letter tag, then the counts per detector.
package record

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Tag is a record type of the CSV line format.
type Tag string

const (
	GammaBackground   Tag = "GB"
	NeutronBackground Tag = "NB"
	GammaScan         Tag = "GS"
	NeutronScan       Tag = "NS"
	GammaAlarm        Tag = "GA" // the monitor's own alarm, counts as in GS
	NeutronAlarm      Tag = "NA"
	OccupancyEnd      Tag = "GX"
	GammaHigh         Tag = "GH" // fault: gamma background too high
	GammaLow          Tag = "GL" // fault: gamma background too low (dead detector)
	NeutronHigh       Tag = "NH" // fault: neutron background too high
	Tamper            Tag = "TT"
	TamperClear       Tag = "TC"
)

// Record is one line of the format: a two-letter tag, then comma-separated
// integers (per-detector counts for GB/NB/GS/NS/GA/NA).
type Record struct {
	Tag    Tag
	Counts []int
}

// MaxDetectors and MaxCount bound what a record may claim.
const (
	MaxDetectors = 16
	MaxCount     = 100_000_000
)

// ErrUnknownTag is returned for a well-formed line with a tag not in the format.
var ErrUnknownTag = errors.New("rpm: unknown record tag")

// Parse parses one line (without its terminator). Fields may carry
// spaces and the line a trailing comma; counts must be non-negative
// integers. Count records need at least one detector.
func Parse(line string) (Record, error) {
	fields := strings.Split(strings.TrimSpace(line), ",")
	if n := len(fields); n > 1 && strings.TrimSpace(fields[n-1]) == "" {
		fields = fields[:n-1] // trailing comma
	}
	tag := Tag(strings.ToUpper(strings.TrimSpace(fields[0])))
	r := Record{Tag: tag}
	switch tag {
	case GammaBackground, NeutronBackground, GammaScan, NeutronScan, GammaAlarm, NeutronAlarm:
		if len(fields) < 2 {
			return Record{}, fmt.Errorf("rpm: %s record without counts", tag)
		}
	case OccupancyEnd, GammaHigh, GammaLow, NeutronHigh, Tamper, TamperClear:
	default:
		if len(tag) != 2 {
			return Record{}, fmt.Errorf("rpm: not a record (tag %q)", clip(string(tag)))
		}
		return Record{}, fmt.Errorf("%w %q", ErrUnknownTag, tag)
	}
	if len(fields)-1 > MaxDetectors {
		return Record{}, fmt.Errorf("rpm: %s record with %d fields (at most %d)", tag, len(fields)-1, MaxDetectors)
	}
	for i, f := range fields[1:] {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > MaxCount {
			return Record{}, fmt.Errorf("rpm: %s field %d %q: not a count", tag, i+1, clip(f))
		}
		r.Counts = append(r.Counts, n)
	}
	return r, nil
}

func clip(s string) string {
	if len(s) > 16 {
		return s[:16] + "..."
	}
	return s
}
