package memtrim

import (
	"runtime"
	"testing"
)

// TestReleaseKeepsTheProgramWorking: after the executable's pages are
// given back, code and read-only data still work (they are faulted in
// again), and the process holds no more than before.
func TestReleaseKeepsTheProgramWorking(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	st, err := Release()
	if err != nil {
		t.Skipf("kernel refuses MADV_PAGEOUT: %v", err)
	}
	if st.Mappings == 0 {
		t.Fatal("no mapping of the executable advised")
	}
	if st.After > st.Before {
		t.Errorf("RSS grew from %d to %d", st.Before, st.After)
	}
	// Read-only data and code after the release: a table and a call.
	if got := runtime.GOOS + fmtInt(12345); got != "linux12345" {
		t.Errorf("got %q", got)
	}
	t.Logf("%d mappings, RSS %d -> %d KiB", st.Mappings, st.Before>>10, st.After>>10)
}

func fmtInt(n int) string {
	const digits = "0123456789"
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{digits[n%10]}, b...)
	}
	return string(b)
}
