package thermometer

import (
	"testing"
	"time"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/thermometer/regmap"
	"github.com/kordon/kordon/drivers/thermometer/screening"
	"github.com/kordon/kordon/internal/device"
)

// checkTimeoutTrace: a slave that stops answering is a timeout fault and
// takes the device down; when it answers again the fault clears and the
// device is up.
func checkTimeoutTrace(t *testing.T, col *drivertest.Output) {
	t.Helper()
	if got := col.Downs(); len(got) != 1 || got[0] != device.Timeout {
		t.Fatalf("downs %v, want one timeout", got)
	}
	if col.Ups() != 2 {
		t.Fatalf("ups %d, want open + back", col.Ups())
	}
	// The cable is out for 1.64 s of replay time against a 400 ms timeout:
	// about four timeouts, but how many exactly depends on scheduling, so
	// the test pins the behaviour (several timeouts, each poll retried
	// once before giving up) rather than the count.
	c := col.Counts()
	if c["timeouts"] < 2 || c["retries"] < 1 || c["retries"] >= c["timeouts"] {
		t.Fatalf("counts %v, want several timeouts with one retry per failed poll", c)
	}
}

// checkCRCTrace: corrupted frames are counted and retried.
func checkCRCTrace(t *testing.T, col *drivertest.Output) {
	t.Helper()
	if c := col.Counts(); c["frames_crc"] != 3 || c["retries"] != 2 {
		t.Fatalf("counts %v, want 3 corrupted frames and 2 retries", c)
	}
}

// BenchmarkPollDecodeAndScreen is the per-poll work after the bus reply:
// registers to sample to judgement (10 Hz sensors × many slaves).
func BenchmarkPollDecodeAndScreen(b *testing.B) {
	p := regmap.Builtin()["calex-pyrousb"]
	cfg, _ := screening.DecodeLayers(configWith(&testing.T{}, "{}").Options, 100*time.Millisecond)
	s := screening.NewScreener(cfg, "lane-1", p.Name())
	regs := map[uint16]uint16{0x08: 9800, 0x12: 365, 0x13: 366, 0x14: 250, 0x15: 0}
	i := 0
	for b.Loop() {
		regs[0x12] = uint16(360 + i%10)
		i++
		s.Sample(p.Decode(regs))
	}
}
