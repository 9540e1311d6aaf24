package mrzrow

import (
	"testing"
	"time"
)

var (
	td3 = []string{"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L898902C36UTO7408122F1204159ZE184226B<<<<<10"}
	td1 = []string{"I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6", "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"}
	t0  = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
)

func TestAssembler(t *testing.T) {
	a := Assembler{Gap: 500 * time.Millisecond}
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	var ds []Doc
	ds = a.Add(ds, td1[0], ms(0), ms(30))
	ds = a.Add(ds, td1[1], ms(400), ms(430)) // within the gap of row 1's end
	ds = a.Add(ds, td3[0], ms(450), ms(490)) // another length: TD1 cut short
	ds = a.Add(ds, td3[1], ms(600), ms(640))
	if len(ds) != 2 || ds[0].Complete || len(ds[0].Rows) != 2 || !ds[1].Complete || !ds[1].At.Equal(ms(450)) {
		t.Fatalf("docs %+v", ds)
	}
	ds = a.Add(nil, td3[0], ms(2000), ms(2040))
	if ds = a.Expire(ds, ms(2500)); len(ds) != 0 {
		t.Fatalf("expired within the gap: %+v", ds)
	}
	if ds = a.Expire(ds, ms(2600)); len(ds) != 1 || ds[0].Complete || a.Pending() {
		t.Fatalf("not expired: %+v", ds)
	}
}

// TestOrphanRowIsAFailedReadOfItsOwn: a later row with no first row before
// it is never joined to the next document's first row.
func TestOrphanRowIsAFailedReadOfItsOwn(t *testing.T) {
	a := Assembler{Gap: 500 * time.Millisecond}
	ds := a.Add(nil, td3[1], t0, t0)
	ds = a.Add(ds, td3[0], t0.Add(time.Millisecond), t0.Add(2*time.Millisecond))
	ds = a.Add(ds, td3[1], t0.Add(3*time.Millisecond), t0.Add(4*time.Millisecond))
	if len(ds) != 2 || ds[0].Complete || len(ds[0].Rows) != 1 || !ds[1].Complete {
		t.Fatalf("docs %+v", ds)
	}
}

func TestRowShapes(t *testing.T) {
	if !First(td3[0]) || First(td3[1]) || !First(td1[0]) || First(td1[1]) {
		t.Error("first rows misjudged")
	}
	if rows, ok := SplitOneLine([]byte(td3[0] + td3[1])); !ok || len(rows) != 2 || rows[1] != td3[1] {
		t.Errorf("one-line TD3: %q %v", rows, ok)
	}
	if _, ok := SplitOneLine([]byte(td3[1] + td3[0])); ok {
		t.Error("a one-line document must start with a first row")
	}
	if !Plausible([]byte(td1[2])) || Plausible([]byte(td1[2][:29])) || Plausible([]byte("\x00"+td1[2][1:])) {
		t.Error("row plausibility misjudged")
	}
	if string(Trim([]byte(" \t"+td3[0]+" "))) != td3[0] {
		t.Error("padding not trimmed")
	}
}
