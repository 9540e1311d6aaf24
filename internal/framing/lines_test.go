package framing

import (
	"context"
	"io"
	"testing"
	"time"
)

// scriptedPort returns one scripted chunk per Read; an empty chunk is a
// read timeout. It ends with io.EOF.
type scriptedPort struct {
	chunks [][]byte
	clock  *time.Time
	step   time.Duration
}

func (p *scriptedPort) Read(b []byte) (int, error) {
	*p.clock = p.clock.Add(p.step)
	if len(p.chunks) == 0 {
		return 0, io.EOF
	}
	c := p.chunks[0]
	p.chunks = p.chunks[1:]
	return copy(b, c), nil
}
func (p *scriptedPort) Write(b []byte) (int, error)        { return len(b), nil }
func (p *scriptedPort) Close() error                       { return nil }
func (p *scriptedPort) SetReadTimeout(time.Duration) error { return nil }

func collect(t *testing.T, chunks [][]byte, step time.Duration) ([]Frame, map[string]int) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	torn := map[string]int{}
	l := &Lines{Port: &scriptedPort{chunks: chunks, clock: &now, step: step}, Now: func() time.Time { return now },
		MaxLen: 16, Idle: 300 * time.Millisecond, Torn: func(r string, n int) { torn[r] += n }}
	var out []Frame
	for {
		f, err := l.Next(context.Background())
		if err == io.EOF {
			return out, torn
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, f)
	}
}

func TestLineEndings(t *testing.T) {
	frames, _ := collect(t, [][]byte{[]byte("one\rtwo\r\nthr"), []byte("ee\nfour\n\n\r\n")}, 10*time.Millisecond)
	want := []string{"one", "two", "three", "four"}
	if len(frames) != len(want) {
		t.Fatalf("got %d frames, want %d", len(frames), len(want))
	}
	for i, w := range want {
		if string(frames[i].Data) != w {
			t.Errorf("frame %d = %q, want %q", i, frames[i].Data, w)
		}
	}
	// "three" began in the first read: its time is that read's.
	if !frames[2].At.Equal(frames[0].At) {
		t.Errorf("frame 'three' stamped %v, want first-byte time %v", frames[2].At, frames[0].At)
	}
	if !frames[3].At.After(frames[2].At) {
		t.Errorf("frame 'four' not stamped at its own first byte")
	}
}

func TestTornAndOverlongLinesAreCountedNotFatal(t *testing.T) {
	// The over-long line's end comes in the same burst: it goes with it.
	chunks := [][]byte{[]byte("half-a-li"), {}, {}, {}, {}, []byte("ok\n"), []byte("0123456789abcdefXYZmore\nafter\n")}
	frames, torn := collect(t, chunks, 100*time.Millisecond)
	var got []string
	for _, f := range frames {
		got = append(got, string(f.Data))
	}
	if len(got) != 2 || got[0] != "ok" || got[1] != "after" {
		t.Errorf("frames = %q, want [ok after]", got)
	}
	if torn["torn"] != len("half-a-li") {
		t.Errorf("torn bytes = %d, want %d", torn["torn"], len("half-a-li"))
	}
	if torn["overlong"] == 0 {
		t.Errorf("overlong line not counted: %v", torn)
	}
}

func TestEOFMidLineYieldsTheLine(t *testing.T) {
	frames, _ := collect(t, [][]byte{[]byte("last")}, time.Millisecond)
	if len(frames) != 1 || string(frames[0].Data) != "last" {
		t.Errorf("frames = %v", frames)
	}
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("P<UTO\r\nL898\r\n"), uint8(3))
	f.Add([]byte("\x00\xff\r\r\n\n"), uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint8) {
		n := int(split%16) + 1
		var chunks [][]byte
		for len(data) > 0 {
			k := min(n, len(data))
			chunks = append(chunks, data[:k])
			data = data[k:]
		}
		frames, _ := collect(t, chunks, time.Millisecond)
		for _, fr := range frames {
			if len(fr.Data) == 0 || len(fr.Data) > 16 {
				t.Fatalf("frame of length %d", len(fr.Data))
			}
		}
	})
}

// TestGoodLineAfterOverlongNoiseIsKept: 250 bytes of unterminated noise,
// then, after a pause, a good line: the line is read, the noise counted.
// Without the pause the good line cannot be told from the noise's end and
// goes with it (counted too).
func TestGoodLineAfterOverlongNoiseIsKept(t *testing.T) {
	noise := make([]byte, 250)
	for i := range noise {
		noise[i] = 'a' + byte(i%26)
	}
	// 200 ms per read: every chunk comes after a pause.
	frames, torn := collect(t, [][]byte{noise[:120], noise[120:], []byte("MSKU1100810\r\n"), []byte("next\n")}, 200*time.Millisecond)
	if len(frames) != 2 || string(frames[0].Data) != "MSKU1100810" || string(frames[1].Data) != "next" {
		t.Fatalf("frames %q, want the code and the next line", frames)
	}
	if torn["overlong"] != 250 {
		t.Errorf("overlong bytes %d, want 250 (%v)", torn["overlong"], torn)
	}
	// A torn (idle) over-long line does not swallow the next line either.
	frames, _ = collect(t, [][]byte{noise, {}, {}, {}, {}, []byte("ok\n")}, 100*time.Millisecond)
	if len(frames) != 1 || string(frames[0].Data) != "ok" {
		t.Fatalf("after an idle over-long line: frames %q", frames)
	}
}
