package mrzrow

import "time"

// Assembler groups single rows (line mode, keyboard wedge) into
// documents by their length: 3 rows of 30 (TD1), 2 of 36 (TD2, MRV-B) or
// 2 of 44 (TD3, MRV-A). Each row of one document must start within gap of
// the end of the row before (a wedge takes a while to type a row; a serial
// reader sends one in about 50 ms at 9600 baud).
//
// A document that stays short (rows too far apart, a row of another
// length, a reader that sent only one row) comes out as incomplete: the
// driver turns it into a failed-read reading, because the officer holding
// the passport must know to present it again.
type Assembler struct {
	Gap  time.Duration
	rows []string
	at   time.Time // first row's arrival
	last time.Time // latest row's end
}

// Doc is a group of rows the assembler finished: complete, or not.
type Doc struct {
	Rows     []string
	At       time.Time
	Complete bool
}

// Add takes one row (already known to have an MRZ row length) that started
// arriving at at and ended at end, and appends to dst the documents it
// finished.
//
// A document starts only at a row that can be a first row (First): a
// later row with no first row before it is an orphan, a failed read of its
// own, never joined to the next document's first row; and a first row
// arriving while a document waits for its later rows starts a new one.
func (a *Assembler) Add(dst []Doc, row string, at, end time.Time) []Doc {
	first := First(row)
	if len(a.rows) > 0 && (len(row) != len(a.rows[0]) || at.Sub(a.last) > a.Gap || first) {
		dst = a.Flush(dst)
	}
	if len(a.rows) == 0 && !first {
		return append(dst, Doc{Rows: []string{row}, At: at})
	}
	if len(a.rows) == 0 {
		a.at = at
	}
	a.rows = append(a.rows, row)
	a.last = end
	if len(a.rows) == PerDocument(len(row)) {
		dst = append(dst, Doc{Rows: a.rows, At: a.at, Complete: true})
		a.rows = nil
	}
	return dst
}

// Expire finishes a short document once no row has come for gap.
func (a *Assembler) Expire(dst []Doc, now time.Time) []Doc {
	if len(a.rows) > 0 && now.Sub(a.last) > a.Gap {
		return a.Flush(dst)
	}
	return dst
}

// Flush finishes the pending rows as an incomplete document.
func (a *Assembler) Flush(dst []Doc) []Doc {
	if len(a.rows) == 0 {
		return dst
	}
	dst = append(dst, Doc{Rows: a.rows, At: a.at})
	a.rows = nil
	return dst
}

// Pending says whether rows are waiting for the rest of their document.
func (a *Assembler) Pending() bool { return len(a.rows) > 0 }
