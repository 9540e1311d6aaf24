package mrz

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/reading"
)

func TestParseSpecimens(t *testing.T) {
	okQ := reading.Quality{Status: reading.OK}
	for _, tc := range []struct {
		name string
		rows []string
		want Document
	}{
		{"TD1", td1, Document{
			Format: TD1, DocumentCode: "I", Issuer: "UTO", Number: "D23145890", Nationality: "UTO",
			BirthDate: "1974-08-12", Sex: "F", ExpiryDate: "2012-04-15",
			PrimaryName: "ERIKSSON", SecondaryName: "ANNA MARIA", OptionalData: "", OptionalData2: ptr(""),
			Checks: []Check{
				{"number", "7", "7", true}, {"birth_date", "2", "2", true},
				{"expiry_date", "9", "9", true}, {"composite", "6", "6", true},
			},
			Valid: true, Expired: ptr(true), Minor: ptr(false), Candidates: []Candidate{}, quality: okQ,
		}},
		{"TD2", td2, Document{
			Format: TD2, DocumentCode: "I", Issuer: "UTO", Number: "D23145890", Nationality: "UTO",
			BirthDate: "1974-08-12", Sex: "F", ExpiryDate: "2012-04-15",
			PrimaryName: "ERIKSSON", SecondaryName: "ANNA MARIA",
			Checks: []Check{
				{"number", "7", "7", true}, {"birth_date", "2", "2", true},
				{"expiry_date", "9", "9", true}, {"composite", "6", "6", true},
			},
			Valid: true, Expired: ptr(true), Minor: ptr(false), Candidates: []Candidate{}, quality: okQ,
		}},
		{"MRV-A", mrvA, Document{
			Format: MRVA, DocumentCode: "V", Issuer: "UTO", Number: "L8988901C", Nationality: "XXX",
			BirthDate: "1940-09-07", Sex: "F", ExpiryDate: "1996-12-10",
			PrimaryName: "ERIKSSON", SecondaryName: "ANNA MARIA", OptionalData: "6ZE184226B",
			Checks: []Check{
				{"number", "4", "4", true}, {"birth_date", "8", "8", true}, {"expiry_date", "9", "9", true},
			},
			Valid: true, Expired: ptr(true), Minor: ptr(false), Candidates: []Candidate{}, quality: okQ,
		}},
		{"MRV-B", mrvB, Document{
			Format: MRVB, DocumentCode: "V", Issuer: "UTO", Number: "L8988901C", Nationality: "XXX",
			BirthDate: "1940-09-07", Sex: "F", ExpiryDate: "1996-12-10",
			PrimaryName: "ERIKSSON", SecondaryName: "ANNA MARIA", OptionalData: "",
			Checks: []Check{
				{"number", "4", "4", true}, {"birth_date", "8", "8", true}, {"expiry_date", "9", "9", true},
			},
			Valid: true, Expired: ptr(true), Minor: ptr(false), Candidates: []Candidate{}, quality: okQ,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.rows, now)
			tc.want.Rows = tc.rows
			if !reflect.DeepEqual(*d, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", *d, tc.want)
			}
		})
	}
}

// Builders with correct check digits, from ICAO's position tables.

func td3Row2(number, nat, birth, sex, expiry, personal string) string {
	r := pad(number, 9) + digitOf(pad(number, 9)) + nat + birth + digitOf(birth) + sex + expiry + digitOf(expiry) +
		pad(personal, 14) + digitOf(pad(personal, 14))
	return withComposite(r + "0")
}

func td1Fix(r0, r1 string) (string, string) {
	return r0, r1[:29] + digitOf(r0[5:30]+r1[0:7]+r1[8:15]+r1[18:29])
}

func td2Fix(r1 string) string {
	return r1[:35] + digitOf(r1[0:10]+r1[13:20]+r1[21:35])
}

func pad(s string, n int) string { return s + strings.Repeat("<", n-len(s)) }

func TestLongDocumentNumber(t *testing.T) {
	// TD1: a 12-character number D23145890734, check digit 9 over all of it
	// (the ICAO 9303-5 example).
	l1, l2 := td1Fix("I<UTOD23145890<7349<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<0")
	d := mustParse(t, []string{l1, l2, td1[2]}, now)
	if !d.Valid || d.Number != "D23145890734" || d.OptionalData != "" {
		t.Errorf("TD1 long: valid %v number %q optional %q checks %+v", d.Valid, d.Number, d.OptionalData, d.Checks)
	}
	if d.Checks[0] != (Check{"number", "9", "9", true}) {
		t.Errorf("TD1 long number check %+v", d.Checks[0])
	}

	// ... with optional data after the number's filler.
	l1, l2 = td1Fix("I<UTOD23145890<7349<AB12<<<<<<", "7408122F1204159UTOXY9<<<<<<<<0")
	d = mustParse(t, []string{l1, l2, td1[2]}, now)
	if !d.Valid || d.Number != "D23145890734" || d.OptionalData != "AB12" || *d.OptionalData2 != "XY9" {
		t.Errorf("TD1 long + optional: valid %v number %q optional %q/%q", d.Valid, d.Number, d.OptionalData, *d.OptionalData2)
	}

	// A wrong digit for the long number fails its check, read as read.
	l1, l2 = td1Fix("I<UTOD23145890<7341<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<0")
	d = mustParse(t, []string{l1, l2, td1[2]}, now)
	if d.Valid || d.Checks[0] != (Check{"number", "1", "9", false}) || d.Number != "D23145890734" {
		t.Errorf("TD1 long, bad digit: %+v number %q", d.Checks[0], d.Number)
	}

	// '<' at the check position and nothing in the optional data: a missing
	// check digit, not a long number.
	l1, l2 = td1Fix("I<UTOD23145890<<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<0")
	d = mustParse(t, []string{l1, l2, td1[2]}, now)
	if d.Valid || d.Checks[0] != (Check{"number", "<", "7", false}) || d.Number != "D23145890" {
		t.Errorf("TD1 missing digit: %+v number %q", d.Checks[0], d.Number)
	}
	if q := d.Quality(); q.Status != reading.Bad || !strings.Contains(q.Reason, "number") {
		t.Errorf("TD1 missing digit quality %+v", q)
	}

	// TD2: ABC123456789, the rest "789" + check digit in positions 29-32.
	num := "ABC123456789"
	r1 := td2Fix("ABC123456<UTO7408122F1204159789" + digitOf(num) + "<<<0")
	d = mustParse(t, []string{td2[0], r1}, now)
	if !d.Valid || d.Number != num || d.OptionalData != "" {
		t.Errorf("TD2 long: valid %v number %q optional %q checks %+v", d.Valid, d.Number, d.OptionalData, d.Checks)
	}
	if d.Checks[0].Read != digitOf(num) {
		t.Errorf("TD2 long check %+v", d.Checks[0])
	}

	// TD3 has no long-number rule: '<' at position 10 is a failed check.
	r := td3Row2("L898902C3", "UTO", "740812", "F", "120415", "ZE184226B")
	r = withComposite(r[:9] + "<" + r[10:])
	d = mustParse(t, []string{td3[0], r}, now)
	if d.Valid || d.Checks[0] != (Check{"number", "<", "6", false}) {
		t.Errorf("TD3 '<' number digit: %+v", d.Checks[0])
	}
}

func TestCentury(t *testing.T) {
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 23, 59, 0, 0, time.UTC) }
	for _, tc := range []struct {
		now           time.Time
		birth, expiry string
		wantB, wantE  string
	}{
		{at(2026, 3, 1), "260301", "760101", "2026-03-01", "2076-01-01"}, // born today; expiry 50 years ahead
		{at(2026, 3, 1), "260302", "770101", "1926-03-02", "1977-01-01"}, // tomorrow -> 1926; 51 years ahead -> 1977
		{at(2026, 3, 1), "251231", "000101", "2025-12-31", "2000-01-01"},
		{at(2026, 3, 1), "991231", "991231", "1999-12-31", "1999-12-31"},
		{at(2026, 3, 1), "000101", "360101", "2000-01-01", "2036-01-01"},
		{at(2026, 3, 1), "26<<<<", "26<<<<", "2026-<<-<<", "2026-<<-<<"}, // this year, month unknown
		{at(2026, 3, 1), "2604<<", "2604<<", "1926-04-<<", "2026-04-<<"}, // a later month this year -> 1926
		{at(2026, 3, 1), "<<<<<<", "<<<<<<", "<<<<-<<-<<", "<<<<-<<-<<"},
		{at(2026, 3, 1), "<<0229", "300229", "<<<<-02-29", ""},           // Feb 29 with an unknown year; 2030 is not leap
		{at(2026, 3, 1), "240229", "280229", "2024-02-29", "2028-02-29"}, // leap years
		{at(2026, 3, 1), "741312", "120431", "", ""},                     // month 13, 31 April
		{at(2026, 3, 1), "7<0812", "12O415", "", ""},                     // not dates
		{at(2099, 12, 31), "991231", "491231", "2099-12-31", "2149-12-31"},
		{at(2100, 1, 1), "991231", "500101", "2099-12-31", "2150-01-01"},
		{at(2100, 1, 1), "000102", "510101", "2000-01-02", "2051-01-01"},
		{at(1999, 6, 1), "050101", "490101", "1905-01-01", "2049-01-01"},
	} {
		r := td3Row2("L898902C3", "UTO", tc.birth, "F", tc.expiry, "")
		d := mustParse(t, []string{td3[0], r}, tc.now)
		if d.BirthDate != tc.wantB || d.ExpiryDate != tc.wantE {
			t.Errorf("now %s, %s/%s: got %q/%q, want %q/%q", tc.now.Format(time.DateOnly), tc.birth, tc.expiry,
				d.BirthDate, d.ExpiryDate, tc.wantB, tc.wantE)
		}
		if !d.Valid {
			t.Errorf("%s/%s: checks %+v", tc.birth, tc.expiry, d.Checks)
		}
		if bad := tc.wantB == "" || tc.wantE == ""; bad != (d.Quality().Status == reading.Suspect) {
			t.Errorf("%s/%s: quality %+v", tc.birth, tc.expiry, d.Quality())
		}
	}
}

func TestExpiredMinor(t *testing.T) {
	bp := func(b bool) *bool { return &b }
	for _, tc := range []struct {
		now           time.Time
		birth, expiry string
		minor, exp    *bool
	}{
		{now, "080301", "260301", bp(false), bp(false)},                                   // 18 today; valid through today
		{now, "080302", "260228", bp(true), bp(true)},                                     // 18 tomorrow; expired yesterday
		{now, "080229", "2603<<", bp(false), bp(false)},                                   // Feb 29 2008 -> 18 on 1 Mar 2026; expiry some day in March, today at the earliest
		{time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC), "080229", "2602<<", bp(true), nil}, // expiry some day in February: undecided
		{now, "0802<<", "2602<<", bp(false), bp(true)},                                    // latest possible birth 29 Feb 2008: 18 today
		{now, "08<<<<", "25<<<<", nil, bp(true)},                                          // born some day in 2008: undecided
		{now, "07<<<<", "27<<<<", bp(false), bp(false)},
		{now, "1002<<", "2601<<", bp(true), bp(true)},
		{now, "<<<<<<", "<<<<<<", nil, nil},
		{now, "<<0101", "<<0101", nil, nil},
		// The box clock's local date counts: 23:30 on 28 Feb in UTC-5 is still 28 Feb.
		{time.Date(2026, 2, 28, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)), "080301", "260228", bp(true), bp(false)},
	} {
		r := td3Row2("L898902C3", "UTO", tc.birth, "F", tc.expiry, "")
		d := mustParse(t, []string{td3[0], r}, tc.now)
		if !reflect.DeepEqual(d.Minor, tc.minor) || !reflect.DeepEqual(d.Expired, tc.exp) {
			t.Errorf("now %s, %s/%s: minor %v expired %v; want %v %v", tc.now, tc.birth, tc.expiry,
				show(d.Minor), show(d.Expired), show(tc.minor), show(tc.exp))
		}
	}
	// A failed check leaves them unknown, although the dates are shown.
	r := td3Row2("L898902C3", "UTO", "100101", "F", "300101", "")
	r = r[:19] + "0" + r[20:27] + "0" + r[28:]
	d := mustParse(t, []string{td3[0], r}, now)
	if d.Minor != nil || d.Expired != nil || d.BirthDate != "2010-01-01" || d.ExpiryDate != "2030-01-01" {
		t.Errorf("failed date checks: minor %v expired %v dates %q %q", show(d.Minor), show(d.Expired), d.BirthDate, d.ExpiryDate)
	}
}

func show(b *bool) string {
	if b == nil {
		return "nil"
	}
	if *b {
		return "true"
	}
	return "false"
}

func TestCandidates(t *testing.T) {
	set := func(s string, pos int, c byte) string { return s[:pos-1] + string(c) + s[pos:] }
	tdOneOpt0, tdOneOpt1 := td1Fix("I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO5B12<<<<<<<0")
	for _, tc := range []struct {
		name      string
		rows      []string
		status    reading.Status
		cands     []Candidate
		ambiguous []string
		reason    []string // substrings of the Quality reason
	}{
		{"birth date O for 0", []string{td3[0], set(td3[1], 16, 'O')}, reading.Suspect,
			[]Candidate{{"birth_date", "birth_date", 2, 16, "74O812", "740812"}}, nil,
			[]string{"birth_date, composite", "OCR candidate for birth_date (row 2 position 16)", "birth_date is not a date"}},
		{"composite digit O", []string{td3[0], set(td3[1], 44, 'O')}, reading.Suspect,
			[]Candidate{{"composite", "composite_check", 2, 44, "O", "0"}}, nil, []string{"composite"}},
		{"number digit S for 5", []string{td3[0], set(td3Row2("L858902C3", "UTO", "740812", "F", "120415", "ZE184226B"), 3, 'S')}, reading.Suspect,
			[]Candidate{{"number", "number", 2, 3, "L8S8902C3", "L858902C3"}}, nil, []string{"number"}},
		{"number ambiguous", []string{td3[0], set(td3[1], 2, 'B')}, reading.Bad, nil, []string{"number"},
			[]string{"number: several OCR substitutions pass, none offered (ambiguous)"}},
		{"TD3 empty personal number, K at 43", []string{td3[0], set(td3Row2("L898902C3", "UTO", "740812", "F", "120415", ""), 43, 'K')},
			reading.Suspect, []Candidate{{"optional_data", "optional_data_check", 2, 43, "K", "<"}}, nil, nil},
		{"two misreads: no candidate", []string{td3[0], set(set(td3[1], 16, 'O'), 24, 'O')}, reading.Bad, nil, nil,
			[]string{"birth_date, expiry_date", "no OCR candidate"}},
		{"TD1 optional data, composite only", []string{tdOneOpt0, set(tdOneOpt1, 19, 'S'), td1[2]}, reading.Suspect,
			[]Candidate{{"composite", "optional_data_2", 2, 19, "SB12<<<<<<<", "5B12<<<<<<<"}}, nil, nil},
		{"TD2 expiry I for 1", []string{td2[0], set(td2[1], 22, 'I')}, reading.Suspect,
			[]Candidate{{"expiry_date", "expiry_date", 2, 22, "I20415", "120415"}}, nil, nil},
		{"MRV-B expiry Z for 2", []string{mrvB[0], set(mrvB[1], 25, 'Z')}, reading.Suspect,
			[]Candidate{{"expiry_date", "expiry_date", 2, 25, "961Z10", "961210"}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.rows, now)
			if d.Valid {
				t.Fatalf("Valid with checks %+v", d.Checks)
			}
			q := d.Quality()
			if q.Status != tc.status {
				t.Errorf("Quality %+v, want %s", q, tc.status)
			}
			if len(tc.cands) == 0 && len(d.Candidates) != 0 || len(tc.cands) > 0 && !reflect.DeepEqual(d.Candidates, tc.cands) {
				t.Errorf("Candidates\n got %+v\nwant %+v", d.Candidates, tc.cands)
			}
			if !slices.Equal(d.Ambiguous, tc.ambiguous) {
				t.Errorf("Ambiguous %v, want %v", d.Ambiguous, tc.ambiguous)
			}
			for _, s := range tc.reason {
				if !strings.Contains(q.Reason, s) {
					t.Errorf("reason %q lacks %q", q.Reason, s)
				}
			}
			// Never silently corrected: rows and fields are as read.
			if !slices.Equal(d.Rows, tc.rows) {
				t.Errorf("rows changed")
			}
			for _, c := range d.Candidates {
				if len(c.Read) > 1 && (strings.Contains(q.Reason, c.Read) || strings.Contains(q.Reason, c.Candidate)) {
					t.Errorf("reason %q shows a value", q.Reason)
				}
			}
		})
	}
	// The number field keeps the misread value.
	d := mustParse(t, []string{td3[0], set(td3Row2("L858902C3", "UTO", "740812", "F", "120415", "ZE184226B"), 3, 'S')}, now)
	if d.Number != "L8S8902C3" {
		t.Errorf("number %q, want as read", d.Number)
	}
}
