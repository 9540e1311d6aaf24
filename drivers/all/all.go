// Package all lists every device family a box can run. Adding a family is
// one line here.
package all

import (
	"github.com/kordon/kordon/drivers/barcode"
	"github.com/kordon/kordon/drivers/cctv"
	"github.com/kordon/kordon/drivers/contact"
	"github.com/kordon/kordon/drivers/passport"
	"github.com/kordon/kordon/drivers/rpm"
	"github.com/kordon/kordon/drivers/scanneralarm"
	"github.com/kordon/kordon/drivers/thermometer"
	"github.com/kordon/kordon/drivers/thermometer/temper"
	"github.com/kordon/kordon/drivers/tracedetector"
	"github.com/kordon/kordon/drivers/weighbridge"
	"github.com/kordon/kordon/drivers/xray"
	"github.com/kordon/kordon/internal/device"
)

// Drivers returns the registered families, a fresh list for each caller.
func Drivers() []device.Driver {
	return []device.Driver{
		barcode.Driver(),
		cctv.Driver(),
		contact.Driver(),
		passport.Driver(),
		rpm.Driver(),
		scanneralarm.Driver(),
		thermometer.Driver(),
		tracedetector.Driver(),
		weighbridge.Driver(),
		xray.Driver(),
		temper.Driver(),
	}
}
