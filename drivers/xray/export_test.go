package xray

import "testing"

// For the end-to-end test (package xray_test).

func AlarmReportFile(t testing.TB) []byte { return tdrFile(t, alarmSpec()) }
func AlarmImageFile(t testing.TB) []byte {
	return imageFile(t, alarmSpec().objects[0].image)
}
