package watchlist

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: no panic on any file; an error never quotes the file (only
// line numbers); a plain file that loads hashes to a file that loads to
// the same set.
func FuzzParse(f *testing.F) {
	f.Add([]byte(plainCSV))
	f.Add([]byte(Header + " key=" + KeyID(key) + "\n" + strings.Repeat("ab", 32) + "\n"))
	f.Add([]byte("\"L898902C3\nUTO\",x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		set, plain, err := Parse(key, bytes.NewReader(data))
		if err != nil {
			for _, field := range strings.FieldsFunc(string(data), func(r rune) bool {
				return r == ',' || r == '\n' || r == '\r' || r == '"' || r == ' '
			}) {
				// Document-number-like fields: letters and digits mixed.
				numberLike := len(field) >= 6 && strings.ContainsAny(field, "0123456789") &&
					strings.ContainsAny(strings.ToUpper(field), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && field != "32-byte"
				if numberLike && strings.Contains(err.Error(), field) {
					t.Fatalf("error %q quotes %q", err, field)
				}
			}
			return
		}
		if !plain {
			return
		}
		var hashed bytes.Buffer
		if _, err := HashFile(key, bytes.NewReader(data), &hashed); err != nil {
			t.Fatalf("loads but does not hash: %v", err)
		}
		again, _, err := Parse(key, &hashed)
		if err != nil || len(again) != len(set) {
			t.Fatalf("hashed form: %d entries, %v; plain %d", len(again), err, len(set))
		}
	})
}
