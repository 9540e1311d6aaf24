// Package sqltime writes instants as text that sorts as time does.
//
// SQLite compares TEXT byte by byte. time.RFC3339Nano drops trailing
// zeros of the fraction, so its text does not sort as time: "…:09.5Z" is
// before "…:09Z" ('.' < 'Z') and "…:09.12345Z" after "…:09.123456789Z".
// Every stored instant that a query compares or orders is written here,
// with all nine digits, always in UTC.
package sqltime

import "time"

// Layout is RFC 3339 in UTC with a fixed nine-digit fraction.
const Layout = "2006-01-02T15:04:05.000000000Z"

// Format writes t in Layout. Every stored reading takes two, on the hub's
// one committing goroutine, and time.Format reads its layout anew on each
// call (a third of a microsecond), so the one layout is written here
// directly; a year outside 0000-9999 goes to time.Format, which writes it
// its own way.
func Format(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(Layout)
	}
	hour, minute, sec := t.Clock()
	var b [len(Layout)]byte
	digits(b[0:4], year)
	b[4] = '-'
	digits(b[5:7], int(month))
	b[7] = '-'
	digits(b[8:10], day)
	b[10] = 'T'
	digits(b[11:13], hour)
	b[13] = ':'
	digits(b[14:16], minute)
	b[16] = ':'
	digits(b[17:19], sec)
	b[19] = '.'
	digits(b[20:29], t.Nanosecond())
	b[29] = 'Z'
	return string(b[:])
}

// digits writes v in decimal into all of b, zero-padded.
func digits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// Parse reads an instant written in Layout, or by an older version in
// time.RFC3339Nano (the layout accepts any fraction).
func Parse(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// Normalize is a SQL expression that rewrites the text of column col,
// written by an older version in time.RFC3339Nano in UTC, in Layout. Any
// other value (empty, NULL, already in Layout, another zone) is left as it is.
func Normalize(col string) string {
	return `CASE WHEN ` + col + ` GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z'` +
		` AND length(` + col + `) < 30 AND substr(` + col + `, 20, 1) IN ('Z', '.')` +
		` THEN substr(` + col + `, 1, 19) || '.' || substr(CASE substr(` + col + `, 20, 1) WHEN '.' THEN substr(` + col + `, 21, length(` + col + `) - 21) ELSE '' END || '000000000', 1, 9) || 'Z'` +
		` ELSE ` + col + ` END`
}
