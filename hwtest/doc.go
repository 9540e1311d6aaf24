// Package hwtest is the home of Kordon's hardware test tools: trace (the
// format), record, replay, faults, harness (golden readings), rig, accept
// and bench. Its own test is the trace library rule: every trace with a
// golden file under drivers/*/testdata replays to its golden readings.
package hwtest
