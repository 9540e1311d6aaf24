package contract

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := map[string]Parsed{
		Readings("kz", "b1", "r1"):     {Crossing: "kz", Box: "b1", Device: "r1", Leaf: "readings"},
		Availability("kz", "b1", "r1"): {Crossing: "kz", Box: "b1", Device: "r1", Leaf: "availability"},
		BoxState("kz", "b1"):           {Crossing: "kz", Box: "b1", Leaf: "state"},
		Replies("kz", "b1"):            {Crossing: "kz", Box: "b1", Leaf: "replies"},
	}
	for topic, want := range cases {
		got, ok := Parse(topic)
		if !ok || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", topic, got, ok, want)
		}
	}
	for _, bad := range []string{"kordon/v2/kz/b1/state", "kordon/v1/kz/b1/x/y", "other", "kordon/v1/kz/b1/things/r1/readings"} {
		if _, ok := Parse(bad); ok {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// FuzzParse holds Parse to what it was when it split the topic with
// strings.Split (it cuts now, without allocating).
func FuzzParse(f *testing.F) {
	for _, s := range []string{Readings("kz", "b1", "r1"), BoxState("kz", "b1"), "kordon/v1/kz/b1/x/y", "kordon/v1///", "kordon/v1/a/b/devices/c/d/e", "other"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, topic string) {
		want, wantOK := func() (Parsed, bool) {
			rest, found := strings.CutPrefix(topic, Prefix+"/")
			if !found {
				return Parsed{}, false
			}
			parts := strings.Split(rest, "/")
			switch {
			case len(parts) == 3:
				return Parsed{Crossing: parts[0], Box: parts[1], Leaf: parts[2]}, true
			case len(parts) == 5 && parts[2] == "devices":
				return Parsed{Crossing: parts[0], Box: parts[1], Device: parts[3], Leaf: parts[4]}, true
			}
			return Parsed{}, false
		}()
		got, ok := Parse(topic)
		if got != want || ok != wantOK {
			t.Fatalf("Parse(%q) = %+v, %v; split, it was %+v, %v", topic, got, ok, want, wantOK)
		}
	})
}
