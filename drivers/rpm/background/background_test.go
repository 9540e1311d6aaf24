package background

import "testing"

func config() Config {
	return Config{Size: 25, MinSamples: 5, StepSamples: 5, Window: 5, Alpha: func(int) float64 { return 1e-7 }}
}

// A background that steps and stays is accepted after StepSamples held
// samples, with one Change; a single spike is not.
func TestFoldHoldsASpikeAndAcceptsAStep(t *testing.T) {
	b := New("gamma", config())
	for range 20 {
		if c := b.Fold([]int{250, 250}); c != nil {
			t.Fatalf("change on a flat background: %+v", c)
		}
	}
	b.Fold([]int{900, 250}) // one spike
	for range 10 {
		b.Fold([]int{250, 250})
	}
	if m := b.Mean(0); m > 251 || m < 249 {
		t.Fatalf("a spike moved the background to %.1f", m)
	}
	var changes []*Change
	for range 5 {
		if c := b.Fold([]int{400, 400}); c != nil {
			changes = append(changes, c)
		}
	}
	if len(changes) != 1 || changes[0].Held != 5 || changes[0].Factor != 1.6 || changes[0].Channel != "gamma" {
		t.Fatalf("changes %+v, want one gamma change x1.6 after 5 held samples", changes)
	}
	if b.Mean(0) != 400 || b.Samples() != 5 {
		t.Errorf("after the step: mean %.1f over %d samples", b.Mean(0), b.Samples())
	}
}

func TestJudgeAlarmsOnASourceOnOnePanel(t *testing.T) {
	b := New("gamma", config())
	if b.Ready() {
		t.Fatal("ready before any sample")
	}
	for range 25 {
		b.Fold([]int{250, 250})
	}
	var s Scan
	for range 5 {
		s.Add([]int{255, 248}, 5)
	}
	if a := b.Judge(&s); a != nil {
		t.Fatalf("clean scan alarmed: %+v", a)
	}
	s.Add([]int{700, 250}, 5)
	a := b.Judge(&s)
	if a == nil || a.Detector != 1 || a.Source != "computed" || a.Counts < 700 {
		t.Fatalf("source on panel 1: %+v", a)
	}
	if _, th, p, ok := b.One(0, 700); !ok || th <= 250 || p >= 1e-7 {
		t.Errorf("one sample of 700: threshold %v p %v ok %v", th, p, ok)
	}
}
