package record

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Record
	}{
		{"GB,250,251,249,250", Record{Tag: GammaBackground, Counts: []int{250, 251, 249, 250}}},
		{" ns , 3, 4,", Record{Tag: NeutronScan, Counts: []int{3, 4}}},
		{"GX", Record{Tag: OccupancyEnd}},
		{"TT", Record{Tag: Tamper}},
	} {
		got, err := Parse(tc.line)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tc.line, got, err, tc.want)
		}
	}
	for _, line := range []string{"", ",", "GB", "GB,-1", "GB,x", "GB,99999999999999999999", "GB" + strings.Repeat(",1", MaxDetectors+1), "hello world"} {
		if _, err := Parse(line); err == nil {
			t.Errorf("Parse(%q) accepted", line)
		}
	}
	if _, err := Parse("ZZ,1"); !errors.Is(err, ErrUnknownTag) {
		t.Errorf("unknown tag: %v", err)
	}
}
