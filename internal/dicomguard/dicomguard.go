// Package dicomguard checks a DICOM Part-10 file's declared lengths before
// github.com/suyashkumar/dicom parses it: the library allocates a declared
// length before reading it, so a few hostile bytes could cost gigabytes.
package dicomguard

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// maxElement bounds one element's value outside pixel data: DICOS headers
// and reports hold strings, numbers and small polygons.
const maxElement = 16 << 20

// maxHeader bounds how many bytes of a file the guard walks (and so the
// parser reads before pixel data): a TDR or an image header is far smaller.
const maxHeader = 64 << 20

// Check walks a Part-10 file's element headers the way
// github.com/suyashkumar/dicom reads them and refuses one that declares a
// value longer than what is left of the file (or its enclosing sequence),
// or an undefined length the library would try to allocate. The library
// allocates a declared length before reading it (a 4 GiB make for a few
// bytes of input), so this is checked first; it is a walk of headers only,
// not a second parser: values are skipped, never decoded.
//
// It returns how many leading bytes the parser may be given: all of them,
// or up to the first element that cannot be honoured, with the reason. A
// report cut there reads as damaged, which still reaches the officer.
func Check(ra io.ReaderAt, size int64) (int64, error) {
	n := min(size, maxHeader)
	b := make([]byte, 0, min(n, 1<<20))
	buf := bytes.NewBuffer(b)
	if _, err := io.Copy(buf, io.NewSectionReader(ra, 0, n)); err != nil {
		return 0, fmt.Errorf("dicom: %w", err)
	}
	b = buf.Bytes()
	if len(b) < 132 || string(b[128:132]) != "DICM" {
		return 0, errors.New("dicom: not a Part-10 file (no DICM preamble)")
	}
	w := &walker{b: b, pos: 132, order: binary.LittleEndian}
	err := w.file()
	if err == nil || errors.Is(err, errEnd) {
		if size > n && w.pos >= len(b) {
			return int64(w.start), fmt.Errorf("dicom: more than %d bytes before pixel data", maxHeader)
		}
		return size, nil
	}
	return int64(w.start), err
}

func (w *walker) file() error {
	b := w.b
	// The file meta group is explicit VR little endian, whatever follows.
	ts := ""
	for w.pos+2 <= len(b) && binary.LittleEndian.Uint16(b[w.pos:]) == 0x0002 {
		t, _, vl, err := w.header(false)
		if err != nil {
			return err
		}
		if vl == tag.VLUndefinedLength || vl > uint32(len(b)-w.pos) {
			return w.tooLong(t, vl)
		}
		if t == tag.TransferSyntaxUID {
			ts = strings.Trim(string(b[w.pos:w.pos+int(vl)]), " \x00")
		}
		w.pos += int(vl)
	}
	if strings.HasPrefix(ts, uid.DeflatedExplicitVRLittleEndian) {
		return errors.New("dicom: deflated transfer syntax (not used by DICOS) refused")
	}
	order, implicit, err := uid.ParseTransferSyntaxUID(ts)
	if err != nil {
		order, implicit = binary.LittleEndian, false // the library's own fallback
	}
	w.order = order
	return w.dataset(len(b), implicit, 0)
}

type walker struct {
	b     []byte
	pos   int
	start int // where the last element header began
	order binary.ByteOrder
}

// dataset walks elements up to end (or a delimiter when end is the file's).
func (w *walker) dataset(end int, implicit bool, depth int) error {
	if depth > 32 {
		return errors.New("dicom: sequences nested too deep")
	}
	for w.pos < end {
		t, vr, vl, err := w.header(implicit || w.isItem())
		if err != nil {
			return err
		}
		left := uint32(end - w.pos)
		switch {
		case t == tag.ItemDelimitationItem || t == tag.SequenceDelimitationItem:
			if depth > 0 {
				return nil
			}
		case t == tag.PixelData:
			if vl == tag.VLUndefinedLength {
				return w.fragments(end)
			}
			if vl > left {
				return w.tooLong(t, vl)
			}
			w.pos += int(vl)
			return nil // the parser skips pixel data; nothing after it matters
		case t == tag.Item || tag.GetVRKind(t, vr) == tag.VRSequence:
			if vl == tag.VLUndefinedLength {
				if err := w.dataset(end, implicit, depth+1); err != nil {
					return err
				}
				continue
			}
			if vl > left {
				return w.tooLong(t, vl)
			}
			if err := w.dataset(w.pos+int(vl), implicit, depth+1); err != nil {
				return err
			}
		default:
			if vl == tag.VLUndefinedLength || vl > left || vl > maxElement {
				return w.tooLong(t, vl)
			}
			w.pos += int(vl)
		}
	}
	return nil
}

func (w *walker) isItem() bool {
	return w.pos+4 <= len(w.b) && w.order.Uint16(w.b[w.pos:]) == tag.Item.Group && w.order.Uint16(w.b[w.pos+2:]) == tag.Item.Element
}

// fragments skips encapsulated pixel data: items of stated length up to
// the sequence delimiter.
func (w *walker) fragments(end int) error {
	for w.pos+8 <= end {
		t := tag.Tag{Group: w.order.Uint16(w.b[w.pos:]), Element: w.order.Uint16(w.b[w.pos+2:])}
		vl := w.order.Uint32(w.b[w.pos+4:])
		w.pos += 8
		if t == tag.SequenceDelimitationItem {
			return nil
		}
		if vl > uint32(end-w.pos) {
			return w.tooLong(t, vl)
		}
		w.pos += int(vl)
	}
	w.pos = end
	return nil
}

// header reads one element header as the library does: a 2-byte VR in
// explicit syntax (not for items), and a 4-byte length for the VRs that
// have one, 2 bytes otherwise.
func (w *walker) header(implicit bool) (tag.Tag, string, uint32, error) {
	w.start = w.pos
	if w.pos+8 > len(w.b) {
		w.pos = len(w.b)
		return tag.Tag{}, "", 0, errEnd
	}
	t := tag.Tag{Group: w.order.Uint16(w.b[w.pos:]), Element: w.order.Uint16(w.b[w.pos+2:])}
	w.pos += 4
	if implicit {
		vr := tag.UnknownVR
		if info, err := tag.Find(t); err == nil {
			vr = info.VR
		}
		vl := w.order.Uint32(w.b[w.pos:])
		w.pos += 4
		return t, vr, vl, nil
	}
	vr := string(w.b[w.pos : w.pos+2])
	w.pos += 2
	switch vr {
	case "NA", "OB", "OD", "OF", "OL", "OW", "SQ", "UN", "UC", "UR", "UT":
		if w.pos+6 > len(w.b) {
			w.pos = len(w.b)
			return t, vr, 0, errEnd
		}
		vl := w.order.Uint32(w.b[w.pos+2:])
		w.pos += 6
		return t, vr, vl, nil
	}
	vl := uint32(w.order.Uint16(w.b[w.pos:]))
	w.pos += 2
	if vl == 0xffff {
		vl = tag.VLUndefinedLength
	}
	return t, vr, vl, nil
}

// errEnd is a header cut by the end of the file: the library reports a
// file cut short itself (a damaged report is still read), so the guard
// lets it through.
var errEnd = errors.New("dicom: file ends inside an element header")

func (w *walker) tooLong(t tag.Tag, vl uint32) error {
	if vl == tag.VLUndefinedLength {
		return fmt.Errorf("dicom: element %s has an undefined length the parser cannot take", t)
	}
	return fmt.Errorf("dicom: element %s declares %d bytes, more than the file holds", t, vl)
}
