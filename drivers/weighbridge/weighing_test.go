package weighbridge

import (
	"errors"
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
)

// A weighing the box could not keep is reported again on the indicator's
// next line for the same weight, instead of being taken as told.
func TestLostWeighingIsReportedAgain(t *testing.T) {
	out := drivertest.NewOutput()
	refuse := true
	out.Lose = func(reading.Reading) *device.Lost {
		if refuse {
			refuse = false
			return &device.Lost{Reason: "disk_full", Err: errors.New("no space")}
		}
		return nil
	}
	s := &settler{limit: 44000}
	at := time.Unix(0, 0)
	for _, line := range []string{"ST,GS,+0012345kg", "ST,GS,+0012345kg", "ST,GS,+0012345kg"} {
		s.feed(line, at, out)
	}
	if !out.Has("lost:disk_full") {
		t.Fatalf("events %v: the first weighing was not offered", out.Events())
	}
	rs := out.Readings()
	if len(rs) != 1 {
		t.Fatalf("kept %d readings, want the lost weighing once, from the next line: events %v", len(rs), out.Events())
	}
	if w := rs[0].Payload.(Weight); w.Kg == nil || *w.Kg != 12345 {
		t.Fatalf("kept %+v, want 12345 kg", w)
	}
	if got := out.Counts()["lines_repeated"]; got != 1 {
		t.Fatalf("lines_repeated = %d, want 1 (the third line repeats the kept weighing)", got)
	}
}
