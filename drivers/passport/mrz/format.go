package mrz

import (
	"github.com/kordon/kordon/drivers/passport/mrz/checkdigit"
	"github.com/kordon/kordon/drivers/passport/mrz/layout"
)

// Format names an MRZ layout of ICAO Doc 9303 (package layout places the
// fields of each).
type Format = layout.Format

// The formats.
const (
	TD1  = layout.TD1  // ID card: 3 rows of 30
	TD2  = layout.TD2  // ID card / official travel document: 2 rows of 36
	TD3  = layout.TD3  // passport: 2 rows of 44
	MRVA = layout.MRVA // visa, 2 rows of 44, document code 'V'
	MRVB = layout.MRVB // visa, 2 rows of 36, document code 'V'
)

// Names of the checked fields, as used in Check.Field, Candidate.Check and
// Quality reasons. They match the JSON names of the fields they check.
const (
	FieldNumber       = layout.FieldNumber
	FieldBirthDate    = layout.FieldBirthDate
	FieldExpiryDate   = layout.FieldExpiryDate
	FieldOptionalData = layout.FieldOptionalData // TD3 personal number (positions 29-42)
	FieldComposite    = layout.FieldComposite
)

// CheckDigit computes the ICAO 9303 check digit of s (see checkdigit.Of):
//
//	CheckDigit("520727")    // '3', true
//	CheckDigit("AB2134<<<") // '5', true
//
// ok is false when s holds a byte outside 0-9, A-Z and '<'.
func CheckDigit(s string) (digit byte, ok bool) { return checkdigit.Of(s) }
