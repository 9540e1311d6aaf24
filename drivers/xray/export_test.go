package xray

import (
	"bytes"
	"testing"
)

// For the end-to-end test (package xray_test).

func AlarmReportFile(t testing.TB) []byte { return tdrFile(t, alarmSpec()) }
func AlarmImageFile(t testing.TB) []byte {
	return imageFile(t, alarmSpec().objects[0].image)
}

// CutAlarmReportFile is the flagged alarm report cut inside its threat
// list, after the first THREAT flag; DamagedReportFile cut before any.
func CutAlarmReportFile(t testing.TB) []byte {
	b := tdrFile(t, flaggedSpec())
	return b[:bytes.Index(b, []byte("THREAT"))+12]
}

func DamagedReportFile(t testing.TB) []byte {
	b := tdrFile(t, flaggedSpec())
	return b[:bytes.Index(b, []byte{0x10, 0x40, 0x11, 0x10})+20]
}
