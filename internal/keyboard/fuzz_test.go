package keyboard

import (
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzRows feeds arbitrary bytes, cut into reports of arbitrary lengths, to
// every layout: no panic, rows stay within MaxLen, every row is valid
// UTF-8 and its unmapped count matches its replacement characters.
func FuzzRows(f *testing.F) {
	f.Add([]byte{2, 0, 0x36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x28, 0, 0, 0, 0, 0}, uint8(8))
	f.Add([]byte{0, 0, 1, 1, 1, 1, 1, 1}, uint8(8))
	f.Add([]byte{0x40, 0, 0x64, 0x39, 0x2A, 0x58, 0xFF, 0}, uint8(7))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		n := int(cut%12) + 1
		for _, l := range []*Layout{US(), DE(), RU()} {
			r := NewRows(l)
			r.MaxLen = 50
			for i := 0; i < len(data); i += n {
				for _, row := range r.Feed(data[i:min(i+n, len(data))], time.Time{}) {
					if utf8.RuneCountInString(row.Text) > 50 || !utf8.ValidString(row.Text) {
						t.Fatalf("%s: bad row %q", l.Name, row.Text)
					}
					bad := 0
					for _, c := range row.Text {
						if c == utf8.RuneError {
							bad++
						}
					}
					if bad != row.Unmapped {
						t.Fatalf("%s: unmapped %d, replacement chars %d", l.Name, row.Unmapped, bad)
					}
				}
			}
		}
	})
}
