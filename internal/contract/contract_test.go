package contract

import "testing"

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
