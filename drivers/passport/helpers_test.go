package passport

import (
	"testing"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/device"
)

func configWith(t *testing.T, src string, seams ...drivertest.Seam) device.Config {
	t.Helper()
	return drivertest.Config(t, src, append([]drivertest.Seam{drivertest.ID("r1")}, seams...)...)
}
