package mrz

import (
	"testing"
)

func benchParse(b *testing.B, rows []string) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(rows, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTD3(b *testing.B)  { benchParse(b, td3) }
func BenchmarkParseTD1(b *testing.B)  { benchParse(b, td1) }
func BenchmarkParseTD2(b *testing.B)  { benchParse(b, td2) }
func BenchmarkParseMRVA(b *testing.B) { benchParse(b, mrvA) }
func BenchmarkParseMRVB(b *testing.B) { benchParse(b, mrvB) }

// A TD3 with one misread (O for 0 in the birth date): the candidate search
// runs.
func BenchmarkParseTD3Candidate(b *testing.B) {
	benchParse(b, []string{td3[0], td3[1][:15] + "O" + td3[1][16:]})
}

// A TD3 with a wrong digit: the search runs and finds nothing.
func BenchmarkParseTD3Bad(b *testing.B) {
	benchParse(b, []string{td3[0], td3[1][:9] + "5" + td3[1][10:]})
}

func BenchmarkCheckDigit(b *testing.B) {
	s := td3[1][0:10] + td3[1][13:20] + td3[1][21:43]
	for b.Loop() {
		CheckDigit(s)
	}
}
