package hub

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"

	"github.com/kordon/kordon/internal/dicomguard"
)

// renderDICOM turns the first frame of a DICOM (DICOS) image into a PNG the
// dashboard can show. Native pixel data is stretched from its darkest to
// its brightest value: raw 12- or 16-bit samples shown as they are would be
// a black square. The library parses, after dicomguard has checked every
// declared length against the file (the library allocates a length before
// reading it); a panic inside it on a hostile file is an error here, never
// a crash of the hub.
func renderDICOM(path string) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("DICOM parser failed: %v", p)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if _, err := dicomguard.Check(f, fi.Size()); err != nil {
		return nil, fmt.Errorf("not a DICOM file the hub can draw: %w", err)
	}
	ds, err := dicom.Parse(bufio.NewReader(io.NewSectionReader(f, 0, fi.Size())), fi.Size(), nil)
	if err != nil {
		return nil, fmt.Errorf("not a DICOM file: %w", err)
	}
	el, err := ds.FindElementByTag(tag.PixelData)
	if err != nil {
		return nil, errors.New("the file holds no pixel data")
	}
	info, ok := el.Value.GetValue().(dicom.PixelDataInfo)
	if !ok || len(info.Frames) == 0 {
		return nil, errors.New("the file holds no image frame")
	}
	var img image.Image
	if nf, err := info.Frames[0].GetNativeFrame(); err == nil {
		img, err = stretch(nf)
		if err != nil {
			return nil, err
		}
	} else if img, err = info.Frames[0].GetImage(); err != nil {
		return nil, fmt.Errorf("frame: %w", err)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func stretch(nf *frame.NativeFrame) (image.Image, error) {
	if nf.Rows <= 0 || nf.Cols <= 0 || len(nf.Data) < nf.Rows*nf.Cols {
		return nil, errors.New("frame smaller than its rows and columns")
	}
	n := nf.Rows * nf.Cols
	lo, hi := int(^uint(0)>>1), -int(^uint(0)>>1)-1
	for _, px := range nf.Data[:n] {
		if len(px) == 0 {
			return nil, errors.New("pixel without samples")
		}
		lo, hi = min(lo, px[0]), max(hi, px[0])
	}
	span := max(hi-lo, 1)
	level := func(v int) uint8 { return uint8((v - lo) * 255 / span) }
	if len(nf.Data[0]) >= 3 { // RGB
		img := image.NewRGBA(image.Rect(0, 0, nf.Cols, nf.Rows))
		for j, px := range nf.Data[:n] {
			if len(px) < 3 {
				return nil, errors.New("colour pixel without three samples")
			}
			img.Set(j%nf.Cols, j/nf.Cols, color.RGBA{uint8(px[0]), uint8(px[1]), uint8(px[2]), 255})
		}
		return img, nil
	}
	img := image.NewGray(image.Rect(0, 0, nf.Cols, nf.Rows))
	for j, px := range nf.Data[:n] {
		img.Pix[j] = level(px[0])
	}
	return img, nil
}
