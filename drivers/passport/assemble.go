package passport

import "time"

// rowAssembler groups single rows (line mode, keyboard wedge) into
// documents by their length: 3 rows of 30 (TD1), 2 of 36 (TD2, MRV-B) or
// 2 of 44 (TD3, MRV-A). Each row of one document must start within gap of
// the end of the row before (a wedge takes a while to type a row; a serial
// reader sends one in about 50 ms at 9600 baud).
//
// A document that stays short (rows too far apart, a row of another
// length, a reader that sent only one row) comes out as incomplete: the
// driver turns it into a failed-read reading, because the officer holding
// the passport must know to present it again.
type rowAssembler struct {
	gap  time.Duration
	rows []string
	at   time.Time // first row's arrival
	last time.Time // latest row's end
}

// doc is a group of rows the assembler finished: complete, or not.
type doc struct {
	rows     []string
	at       time.Time
	complete bool
}

// add takes one row (already known to have an MRZ row length) that started
// arriving at at and ended at end, and appends to dst the documents it
// finished.
//
// A document starts only at a row that can be a first row (firstRow): a
// later row with no first row before it is an orphan, a failed read of its
// own, never joined to the next document's first row; and a first row
// arriving while a document waits for its later rows starts a new one.
func (a *rowAssembler) add(dst []doc, row string, at, end time.Time) []doc {
	first := firstRow(row)
	if len(a.rows) > 0 && (len(row) != len(a.rows[0]) || at.Sub(a.last) > a.gap || first) {
		dst = a.flush(dst)
	}
	if len(a.rows) == 0 && !first {
		return append(dst, doc{rows: []string{row}, at: at})
	}
	if len(a.rows) == 0 {
		a.at = at
	}
	a.rows = append(a.rows, row)
	a.last = end
	if len(a.rows) == rowsFor(len(row)) {
		dst = append(dst, doc{rows: a.rows, at: a.at, complete: true})
		a.rows = nil
	}
	return dst
}

// expire finishes a short document once no row has come for gap.
func (a *rowAssembler) expire(dst []doc, now time.Time) []doc {
	if len(a.rows) > 0 && now.Sub(a.last) > a.gap {
		return a.flush(dst)
	}
	return dst
}

// flush finishes the pending rows as an incomplete document.
func (a *rowAssembler) flush(dst []doc) []doc {
	if len(a.rows) == 0 {
		return dst
	}
	dst = append(dst, doc{rows: a.rows, at: a.at})
	a.rows = nil
	return dst
}

// pending says whether rows are waiting for the rest of their document.
func (a *rowAssembler) pending() bool { return len(a.rows) > 0 }
