package keyboard

import (
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

func rep(mod byte, keys ...byte) []byte {
	b := make([]byte, ReportLen)
	b[0] = mod
	copy(b[2:], keys)
	return b
}

var up = rep(0)

func typed(t *testing.T, l *Layout, reports ...[]byte) string {
	t.Helper()
	d := NewDecoder(l)
	var out []rune
	for _, r := range reports {
		if err := d.Feed(r, func(k Key) {
			switch {
			case k.Special == Enter:
				out = append(out, '\n')
			case k.Rune != 0:
				out = append(out, k.Rune)
			}
		}); err != nil {
			t.Fatalf("report % x: %v", r, err)
		}
	}
	return string(out)
}

// Hand-written reports, independent of the tables' Encode.
func TestLayoutsByHand(t *testing.T) {
	for _, tc := range []struct {
		name    string
		l       *Layout
		reports [][]byte
		want    string
	}{
		{"us filler is shift+comma", US(), [][]byte{rep(modLShift, 0x36), up, rep(modRShift, 0x36), up}, "<<"},
		{"us letters and digits", US(), [][]byte{rep(modLShift, 0x13), up, rep(0, 0x1E), up, rep(0, 0x27), up, rep(0, 0x28), up}, "P10\n"},
		{"us lower case without shift", US(), [][]byte{rep(0, 0x1C), up, rep(0, 0x1D), up}, "yz"},
		{"de y and z swapped", DE(), [][]byte{rep(modLShift, 0x1C), up, rep(modLShift, 0x1D), up}, "ZY"},
		{"de filler is its own key", DE(), [][]byte{rep(0, 0x64), up, rep(0, 0x64), up}, "<<"},
		{"de shift+comma is semicolon", DE(), [][]byte{rep(modLShift, 0x36), up}, ";"},
		{"de altgr", DE(), [][]byte{rep(modRAlt, 0x14), up, rep(modLCtrl|modLAlt, 0x24), up, rep(modRAlt, 0x64), up}, "@{|"},
		{"de shifted digits", DE(), [][]byte{rep(modLShift, 0x1F), up, rep(modLShift, 0x20), up}, "\"§"},
		{"ru types cyrillic", RU(), [][]byte{rep(modLShift, 0x14), up, rep(0, 0x1A), up, rep(0, 0x35), up}, "Йцё"},
		{"ru shifted 3 is numero", RU(), [][]byte{rep(modLShift, 0x20), up}, "№"},
		{"keypad digits", US(), [][]byte{rep(0, 0x59), up, rep(0, 0x62), up, rep(0, 0x58), up}, "10\n"},
		{"held key types once", US(), [][]byte{rep(0, 0x04), rep(0, 0x04), rep(0, 0x04, 0x05), up}, "ab"},
		{"repeat needs a release", US(), [][]byte{rep(0, 0x04), up, rep(0, 0x04), up}, "aa"},
		{"several new keys in one report", US(), [][]byte{rep(0, 0x04, 0x05, 0x06), up}, "abc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := typed(t, tc.l, tc.reports...); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCapsLockTogglesLettersOnly(t *testing.T) {
	got := typed(t, US(), rep(0, 0x39), up, rep(0, 0x04), up, rep(0, 0x1E), up, rep(modLShift, 0x04), up,
		rep(0, 0x39), up, rep(0, 0x04), up)
	if got != "A1aa" {
		t.Errorf("got %q, want A1aa", got)
	}
}

func TestBadReportsChangeNothing(t *testing.T) {
	d := NewDecoder(US())
	var got []rune
	press := func(k Key) { got = append(got, k.Rune) }
	if err := d.Feed(rep(0, 0x04), press); err != nil {
		t.Fatal(err)
	}
	if err := d.Feed([]byte{1, 2, 3}, press); !errors.Is(err, ErrReportLength) {
		t.Errorf("short report: %v", err)
	}
	if err := d.Feed(rep(0, 1, 1, 1, 1, 1, 1), press); !errors.Is(err, ErrRollOver) {
		t.Errorf("rollover: %v", err)
	}
	// 'a' is still held: the bad reports did not reset the held keys.
	if err := d.Feed(rep(0, 0x04, 0x05), press); err != nil {
		t.Fatal(err)
	}
	if string(got) != "ab" {
		t.Errorf("got %q, want ab", string(got))
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, l := range []*Layout{US(), DE()} {
		const s = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL898902C36UTO7408122F1204159ZE184226B<<<<<10\r"
		presses, ok := l.Encode(s)
		if !ok {
			t.Fatalf("%s: cannot encode the MRZ", l.Name)
		}
		rows := NewRows(l)
		var got []string
		for _, r := range Reports(presses) {
			for _, row := range rows.Feed(r, time.Time{}) {
				got = append(got, row.Text)
			}
		}
		if len(got) != 2 || got[0]+"\r"+got[1]+"\r" != s {
			t.Errorf("%s: got %q", l.Name, got)
		}
	}
	if _, ok := RU().Encode("P<UTO"); ok {
		t.Error("ru encoded Latin letters")
	}
}

func TestRows(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	counts := map[string]int{}
	r := NewRows(US())
	r.MaxLen = 3
	r.Count = func(w string, n int) { counts[w] += n }
	feed := func(dt time.Duration, reps ...[]byte) (out []Row) {
		for _, b := range reps {
			out = append(out, r.Feed(b, t0.Add(dt))...)
		}
		return out
	}
	if rows := feed(0, rep(0, 0x28), up); len(rows) != 0 {
		t.Errorf("an empty row was returned: %v", rows)
	}
	feed(time.Second, rep(0, 0x04), up)
	feed(2*time.Second, rep(0, 0x3A), up, rep(0, 0x05), up, rep(0, 0x2A), up, rep(0, 0x06), up) // F1, b, backspace, c
	rows := feed(3*time.Second, rep(0, 0x07), up, rep(0, 0x08), up, rep(0, 0x28), up)           // d, e (over MaxLen), Enter
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	want := "a" + string(utf8.RuneError) + "c"
	if rows[0].Text != want || rows[0].Unmapped != 1 || !rows[0].At.Equal(t0.Add(time.Second)) || !rows[0].End.Equal(t0.Add(3*time.Second)) {
		t.Errorf("got %+v, want %q with 1 unmapped from +1s to +3s", rows[0], want)
	}
	if counts["chars_overlong"] != 2 {
		t.Errorf("overlong not counted: %v", counts)
	}
	feed(4*time.Second, rep(0, 0x04), up, []byte{0})
	feed(5*time.Second, rep(0, 0x05), up)
	if n, at := r.Pending(); n != 2 || !at.Equal(t0.Add(5*time.Second)) {
		t.Errorf("pending %d at %v", n, at)
	}
	if r.Drop() != 2 || counts["reports_bad"] != 1 {
		t.Errorf("drop/bad report: %v", counts)
	}
}

func TestLookup(t *testing.T) {
	if l, err := Lookup("DE"); err != nil || l.Name != "de" {
		t.Errorf("Lookup(DE) = %v, %v", l, err)
	}
	if _, err := Lookup("fr"); err == nil {
		t.Error("unknown layout accepted")
	}
}

func BenchmarkRowsTD3(b *testing.B) {
	presses, _ := US().Encode("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\rL898902C36UTO7408122F1204159ZE184226B<<<<<10\r")
	reports := Reports(presses)
	rows := NewRows(US())
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range reports {
			rows.Feed(r, time.Time{})
		}
	}
}
