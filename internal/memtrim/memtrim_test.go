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
		t.Skipf("kernel refuses madvise: %v", err)
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

// TestWrittenMappingsLeftAlone: a mapping with anonymous (written) pages,
// such as a relocated read-only page, is never released.
func TestWrittenMappingsLeftAlone(t *testing.T) {
	ms := parseSmaps([]byte(`00400000-00402000 r--p 00000000 08:01 123 /bin/edged
Rss:                   8 kB
Anonymous:             0 kB
00402000-00c47000 r-xp 00002000 08:01 123 /bin/edged
Anonymous:             0 kB
0156d000-0156e000 r--p 0116c000 08:01 123 /bin/edged
Anonymous:             4 kB
7ff0-8ff0 rw-p 00000000 00:00 0
Anonymous:            12 kB
`))
	if len(ms) != 4 || ms[0].path != "/bin/edged" || ms[1].perms != "r-xp" || ms[2].anonymous != 4 || ms[3].path != "" {
		t.Fatalf("%+v", ms)
	}
	if ms[0].start != 0x400000 || ms[0].end != 0x402000 {
		t.Errorf("range %x-%x", ms[0].start, ms[0].end)
	}
}
