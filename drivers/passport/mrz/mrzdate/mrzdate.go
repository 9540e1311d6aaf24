// Package mrzdate reads the dates of an ICAO 9303 machine readable zone
// (YYMMDD, parts possibly unknown as "<<"), resolves their century against
// the box clock and tells whether a document has expired and whether its
// holder is a minor.
package mrzdate

import "time"

// Date is an MRZ date (YYMMDD) with its century resolved. A part that was
// read as "<<" is unknown (known[i] false).
type Date struct {
	y, m, d int
	known   [3]bool // year, month, day
}

// readDate reads YYMMDD. Each two-character part must be two digits or two
// '<' (unknown); anything else (a letter, one digit and one '<') is not a
// date and ok is false.
func readDate(s string) (yy, mm, dd int, known [3]bool, ok bool) {
	var v [3]int
	for i := 0; i < 3; i++ {
		a, b := s[2*i], s[2*i+1]
		switch {
		case isDigit(a) && isDigit(b):
			v[i], known[i] = int(a-'0')*10+int(b-'0'), true
		case a == '<' && b == '<':
		default:
			return 0, 0, 0, known, false
		}
	}
	return v[0], v[1], v[2], known, true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Birth resolves a birth date: YY is taken in now's century (20YY in
// the 2000s) unless that would put the birth after now, in which case it is
// the century before (19YY). With an unknown month (or day) the comparison
// uses only the known parts, so a birth in the current year stays there.
func Birth(s string, now time.Time) (Date, bool) {
	yy, mm, dd, known, ok := readDate(s)
	if !ok {
		return Date{}, false
	}
	dt := Date{m: mm, d: dd, known: known}
	if known[0] {
		ny, nm, nd := now.Date()
		y := ny - ny%100 + yy
		switch {
		case y > ny:
			y -= 100
		case y == ny && known[1] && (mm > int(nm) || mm == int(nm) && known[2] && dd > nd):
			y -= 100
		}
		dt.y = y
	}
	return dt, dt.calendar()
}

// Expiry resolves an expiry date: YY is the year within [now-49,
// now+50] (by year). In 2026 that is 1977-2076: "20YY unless that is more
// than 50 years ahead".
func Expiry(s string, now time.Time) (Date, bool) {
	yy, mm, dd, known, ok := readDate(s)
	if !ok {
		return Date{}, false
	}
	dt := Date{m: mm, d: dd, known: known}
	if known[0] {
		ny := now.Year()
		y := ny - ny%100 + yy
		switch {
		case y > ny+50:
			y -= 100
		case y < ny-49:
			y += 100
		}
		dt.y = y
	}
	return dt, dt.calendar()
}

// calendar reports whether the known parts can form a real date (Feb 29 is
// allowed when the year is unknown).
func (dt Date) calendar() bool {
	if dt.known[1] && (dt.m < 1 || dt.m > 12) {
		return false
	}
	if dt.known[2] {
		max := 31
		if dt.known[1] {
			y := dt.y
			if !dt.known[0] {
				y = 2000 // a leap year: allow Feb 29
			}
			max = daysIn(y, dt.m)
		}
		if dt.d < 1 || dt.d > max {
			return false
		}
	}
	return true
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// String is "YYYY-MM-DD"; unknown parts are written as '<' ("<<<<", "<<"),
// e.g. "1974-<<-<<" for a birth year alone.
func (dt Date) String() string {
	b := make([]byte, 0, 10)
	if dt.known[0] {
		b = append(b, byte('0'+dt.y/1000%10), byte('0'+dt.y/100%10), byte('0'+dt.y/10%10), byte('0'+dt.y%10))
	} else {
		b = append(b, "<<<<"...)
	}
	for i, v := range [2]int{dt.m, dt.d} {
		b = append(b, '-')
		if dt.known[i+1] {
			b = append(b, byte('0'+v/10), byte('0'+v%10))
		} else {
			b = append(b, "<<"...)
		}
	}
	return string(b)
}

// bounds is the earliest and latest day the date can be, as yyyymmdd
// integers; ok is false when the year is unknown.
func (dt Date) bounds() (lo, hi int, ok bool) {
	if !dt.known[0] {
		return 0, 0, false
	}
	lm, hm, ld, hd := 1, 12, 1, 0
	if dt.known[1] {
		lm, hm = dt.m, dt.m
	}
	if dt.known[2] {
		ld, hd = dt.d, dt.d
	} else {
		hd = daysIn(dt.y, hm)
	}
	return ymd(dt.y, lm, ld), ymd(dt.y, hm, hd), true
}

func ymd(y, m, d int) int { return y*10000 + m*100 + d }

func today(now time.Time) int {
	y, m, d := now.Date()
	return ymd(y, int(m), d)
}

// Expired is true when even the latest day the expiry can be is before
// today, false when even the earliest is today or later, nil between.
// A document is valid through its expiry date.
func Expired(exp Date, now time.Time) *bool {
	lo, hi, ok := exp.bounds()
	if !ok {
		return nil
	}
	t := today(now)
	switch {
	case hi < t:
		return ptr(true)
	case lo >= t:
		return ptr(false)
	}
	return nil
}

// Minor is whether the holder is under 18 on now's date, nil when the
// known parts do not tell. Someone born on 29 February turns 18 on 1 March
// when the 18th year is not a leap year.
func Minor(birth Date, now time.Time) *bool {
	lo, hi, ok := birth.bounds()
	if !ok {
		return nil
	}
	t := today(now)
	switch {
	case t < eighteenth(lo):
		return ptr(true)
	case t >= eighteenth(hi):
		return ptr(false)
	}
	return nil
}

func eighteenth(d int) int {
	y, md := d/10000+18, d%10000
	if md == 229 && daysIn(y, 2) == 28 {
		md = 301
	}
	return y*10000 + md
}

func ptr[T any](v T) *T { return &v }

// Plausible says whether s (YYMMDD) is made of digit pairs or "<<" pairs,
// with a month 1-12 and a day 1-31 where known: no real date reads
// otherwise, whatever its century.
func Plausible(s string) bool {
	_, mm, dd, known, ok := readDate(s)
	return ok && (!known[1] || mm >= 1 && mm <= 12) && (!known[2] || dd >= 1 && dd <= 31)
}
