package passport

import (
	"testing"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/drivers/passport/framing"
	"github.com/kordon/kordon/drivers/passport/framing/framingtest"
	"github.com/kordon/kordon/internal/device"
)

func configWith(t *testing.T, src string, seams ...drivertest.Seam) device.Config {
	t.Helper()
	return drivertest.Config(t, src, append([]drivertest.Seam{drivertest.ID("r1")}, seams...)...)
}

var (
	td3 = framingtest.TD3()
	td1 = framingtest.TD1()
	t0  = framingtest.Start()
)

// TestFailureReasonIsBounded: a block of many short rows (the most an STX
// block can hold) gives a reason within the envelope's 512 bytes.
func TestFailureReasonIsBounded(t *testing.T) {
	rows := make([]string, framing.MaxBlock)
	for i := range rows {
		rows[i] = "X"
	}
	if _, q := unreadable(rows); len(q.Reason) > 512 {
		t.Errorf("reason is %d bytes", len(q.Reason))
	}
}
