// Package bench generates long synthetic traces and times their replay
// through real driver code, for `hwtest bench` and the replay benchmark.
package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/hwtest/trace"
	"github.com/kordon/kordon/internal/device"
)

// The ICAO specimen and a copy with a failing number check digit.
var (
	specimen = [2]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	badCheck = [2]string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C37UTO7408122F1204159ZE184226B<<<<<10"}
)

// PassportTrace is a busy booth's passport reader in line mode for d: a
// document every `every` (rows 50 ms apart, CR LF), every tenth with a bad
// check digit, and a burst of line noise every minute. It returns the trace
// and how many documents it holds.
func PassportTrace(d, every time.Duration) (*trace.Trace, int) {
	tr := &trace.Trace{Header: trace.Header{
		Trace: trace.Version, Device: "reader1", Driver: "mrz", Transport: "serial",
		Options:  map[string]any{"framing": "line"},
		Recorded: time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC),
		Source:   fmt.Sprintf("synthetic: a document every %s for %s", every, d),
	}}
	docs := 0
	lastNoise := time.Duration(0)
	for t := every; t < d; t += every {
		rows := specimen
		if docs%10 == 9 {
			rows = badCheck
		}
		tr.Events = append(tr.Events,
			trace.Event{T: t, Dev: []byte(rows[0] + "\r\n")},
			trace.Event{T: t + 50*time.Millisecond, Dev: []byte(rows[1] + "\r\n")})
		docs++
		if t-lastNoise >= time.Minute {
			tr.Events = append(tr.Events, trace.Event{T: t + 2*time.Second, Dev: []byte{0x00, 0xff, 0x13, '\n'}})
			lastNoise = t
		}
	}
	return tr, docs
}

// Result is one timed replay.
type Result struct {
	TraceLength time.Duration
	Bytes       int
	Elapsed     time.Duration
	Readings    int
}

// Factor is how many times faster than real time the replay ran.
func (r Result) Factor() float64 { return r.TraceLength.Seconds() / r.Elapsed.Seconds() }

func (r Result) String() string {
	return fmt.Sprintf("%s of trace (%d bytes, %d readings) replayed in %s: %.0f× real time",
		r.TraceLength, r.Bytes, r.Readings, r.Elapsed.Round(time.Millisecond), r.Factor())
}

// Replay plays tr as fast as ordering allows through a pseudo-terminal
// into drv (its real serial path) and times it.
func Replay(ctx context.Context, drv device.Driver, tr *trace.Trace) (Result, error) {
	n := 0
	for _, e := range tr.Events {
		n += len(e.Dev)
	}
	start := time.Now()
	col, err := harness.ReplayThroughPTY(ctx, drv, tr, 0)
	if err != nil {
		return Result{}, err
	}
	return Result{TraceLength: tr.Duration(), Bytes: n, Elapsed: time.Since(start), Readings: len(col.Readings())}, nil
}
