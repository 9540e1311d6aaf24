// Package xraytest writes DICOS files for tests of X-ray evidence: an X-ray
// image with real pixel data and an alarm Threat Detection Report that
// references it, both with the DICOM library's writer.
package xraytest

import (
	"testing"

	"github.com/kordon/kordon/drivers/xray/dicos/dicostest"
	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/frame"
	"github.com/suyashkumar/dicom/pkg/tag"
	"github.com/suyashkumar/dicom/pkg/uid"
)

// ImageUID is the SOP instance of the image AlarmReport references.
const ImageUID = "1.2.826.0.1.3680043.9.7.77.1"

const dxClass = "1.2.840.10008.5.1.4.1.1.501.2.1" // DICOS digital X-ray image

// Pixel is the 12-bit value of the image at (x, y): a diagonal ramp from 0
// at the top left to 4095 at the bottom right.
func Pixel(x, y, rows, cols int) int { return (x + y) * 4095 / (rows + cols - 2) }

// Image is a rows×cols 16-bit DX image of the Pixel ramp.
func Image(t testing.TB, rows, cols int) []byte {
	t.Helper()
	data := make([][]int, rows*cols)
	for j := range data {
		data[j] = []int{Pixel(j%cols, j/cols, rows, cols)}
	}
	return dicostest.Write(t, []*dicom.Element{
		dicostest.Element(t, tag.MediaStorageSOPClassUID, []string{dxClass}),
		dicostest.Element(t, tag.MediaStorageSOPInstanceUID, []string{ImageUID}),
		dicostest.Element(t, tag.TransferSyntaxUID, []string{uid.ExplicitVRLittleEndian}),
		dicostest.Element(t, tag.SOPClassUID, []string{dxClass}),
		dicostest.Element(t, tag.SOPInstanceUID, []string{ImageUID}),
		dicostest.Element(t, tag.SamplesPerPixel, []int{1}),
		dicostest.Element(t, tag.Rows, []int{rows}),
		dicostest.Element(t, tag.Columns, []int{cols}),
		dicostest.Element(t, tag.BitsAllocated, []int{16}),
		dicostest.Element(t, tag.BitsStored, []int{12}),
		dicostest.Element(t, tag.NumberOfFrames, []string{"1"}),
		dicostest.Element(t, tag.PixelData, dicom.PixelDataInfo{Frames: []*frame.Frame{{
			NativeData: frame.NativeFrame{BitsPerSample: 16, Rows: rows, Cols: cols, Data: data},
		}}}),
	})
}

// AlarmReport is an ALARM Threat Detection Report with one EXPLOSIVE object
// on the image ImageUID.
func AlarmReport(t testing.TB) []byte {
	t.Helper()
	return dicostest.TDRFile(t, dicostest.Spec{
		UID: "1.2.826.0.1.3680043.9.7.77.2", Decision: "ALARM", Time: "20261101090500.000000+0000", Alarms: 1, Total: 1,
		Objects: []dicostest.Object{{ID: 1, Category: "EXPLOSIVE", Prob: 0.91, Polygon: []float64{10, 20, 110, 20, 110, 80, 10, 80}, Image: ImageUID}},
	})
}
