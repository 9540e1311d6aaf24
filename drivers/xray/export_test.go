package xray

import (
	"bytes"
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
)

// For the end-to-end test (package xray_test).

func AlarmReportFile(t testing.TB) []byte { return dicostest.TDRFile(t, dicostest.AlarmSpec()) }
func AlarmImageFile(t testing.TB) []byte {
	return dicostest.ImageFile(t, dicostest.AlarmSpec().Objects[0].Image)
}

// CutAlarmReportFile is the flagged alarm report cut inside its threat
// list, after the first THREAT flag; DamagedReportFile cut before any.
func CutAlarmReportFile(t testing.TB) []byte {
	b := dicostest.TDRFile(t, dicostest.FlaggedSpec())
	return b[:bytes.Index(b, []byte("THREAT"))+12]
}

func DamagedReportFile(t testing.TB) []byte {
	b := dicostest.TDRFile(t, dicostest.FlaggedSpec())
	return b[:bytes.Index(b, []byte{0x10, 0x40, 0x11, 0x10})+20]
}
