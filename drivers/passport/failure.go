package passport

import (
	"fmt"
	"strings"

	"github.com/kordon/kordon/drivers/passport/mrzrow"
	"github.com/kordon/kordon/internal/reading"
)

// Failure is the payload of a read that failed: the reader sent part of a
// document, or a block that cannot be trusted. It is a reading (quality
// bad) and not only a counter, because the officer must see at once that
// the document has to be presented again. It has no "valid" field, so the
// hub's check-digit rule does not fire on it.
type Failure struct {
	// Failure is "incomplete" (fewer rows than the format has: rows arrived
	// too far apart, only one row came, or a block was torn), "unreadable"
	// (rows that fit no MRZ layout) or "block_check" (the block check byte
	// of a 3M-native block did not match).
	Failure      string   `json:"failure"`
	RowsRead     int      `json:"rows_read"`
	RowsExpected int      `json:"rows_expected,omitempty"`
	Rows         []string `json:"rows" personal:"true"` // as read; empty when the block was corrupt
}

// Kind implements reading.Payload: a failed read is still a document reading.
func (*Failure) Kind() string { return "document" }

const presentAgain = "; present the document again"

func incomplete(rows []string) (*Failure, reading.Quality) {
	want := 0
	if len(rows) > 0 {
		want = mrzrow.PerDocument(len(rows[0]))
	}
	if rows == nil {
		rows = []string{}
	}
	f := &Failure{Failure: "incomplete", RowsRead: len(rows), RowsExpected: want, Rows: rows}
	reason := fmt.Sprintf("incomplete MRZ: %d of %d rows read", len(rows), want)
	if want == 0 {
		reason = "incomplete MRZ: the reader's block was cut off"
	}
	return f, reading.Quality{Status: reading.Bad, Reason: reason + presentAgain}
}

func unreadable(rows []string) (*Failure, reading.Quality) {
	// Lengths only: the rows are personal data and reasons reach logs.
	lens := make([]string, len(rows))
	for i, r := range rows {
		lens[i] = fmt.Sprint(len(r))
	}
	f := &Failure{Failure: "unreadable", RowsRead: len(rows), Rows: rows}
	// At most 16 lengths: a garbled block of many short rows must not
	// make a reason over the envelope's 512 bytes.
	if len(lens) > 16 {
		lens = append(lens[:16], "...")
	}
	return f, reading.Quality{Status: reading.Bad,
		Reason: fmt.Sprintf("MRZ rows of lengths [%s] fit no layout%s", strings.Join(lens, " "), presentAgain)}
}

func blockCheck() (*Failure, reading.Quality) {
	return &Failure{Failure: "block_check", Rows: []string{}}, reading.Quality{Status: reading.Bad,
		Reason: "reader block check byte (BCC) wrong: block corrupted on the line" + presentAgain}
}
