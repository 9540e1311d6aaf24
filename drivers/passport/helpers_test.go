package passport

import (
	"testing"

	"github.com/kordon/kordon/drivers/drivertest"
	"github.com/kordon/kordon/internal/device"
)

func configWith(t *testing.T, src string) device.Config {
	t.Helper()
	return drivertest.Config(t, src, drivertest.ID("r1"))
}
