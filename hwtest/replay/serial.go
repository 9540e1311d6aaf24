package replay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kordon/kordon/hwtest/trace"
)

// Options control a replay.
type Options struct {
	// Speed scales the trace's timing: 1 is real time, 10 is ten times
	// faster, 0 is as fast as ordering allows (device bytes are written at
	// once; poll answers still wait for their poll).
	Speed float64
	// Loop replays the trace again and again until ctx ends.
	Loop bool
	// Unexpected is called when the host sends bytes the trace did not
	// expect at that point; nil ignores them.
	Unexpected func(want, got []byte)
	// ExpectTimeout bounds the wait for an expected host request; after it
	// the replay fails with an error saying what it waited for and what the
	// host sent instead. 0 waits as long as ctx allows.
	ExpectTimeout time.Duration
	// Plug carries out the trace's unplug and replug events. Without one
	// they are skipped (a plain io.ReadWriter cannot vanish).
	Plug Plug
	// OnEvent, if set, is called after each event has been played (progress).
	OnEvent func(i int, e trace.Event)
	// OnWait, if set, is called when the replay starts waiting for the host
	// to send event i's request (a poll); OnEvent follows once it came.
	OnWait func(i int, e trace.Event)
	// MaxGap, when positive, shortens every pause longer than this (in trace
	// time) to MaxGap: a two-minute silence need not take two minutes when
	// no driver timeout is that long.
	MaxGap time.Duration
}

// pacer schedules events on the trace's timeline. After a wait for the host
// (a poll that came later than recorded), it re-anchors on the moment the
// request arrived, so a device's answer follows the request by the
// recorded delay rather than by the recording's wall clock.
type pacer struct {
	speed   float64
	maxGap  time.Duration
	prevT   time.Duration
	due     time.Time
	started bool
}

func newPacer(o Options) *pacer { return &pacer{speed: o.Speed, maxGap: o.MaxGap} }

func (p *pacer) wait(ctx context.Context, t time.Duration) error {
	if p.speed <= 0 {
		return ctx.Err()
	}
	if !p.started {
		p.due, p.started = time.Now(), true
	}
	gap := t - p.prevT
	if p.maxGap > 0 && gap > p.maxGap {
		gap = p.maxGap
	}
	p.prevT = t
	p.due = p.due.Add(time.Duration(float64(gap) / p.speed))
	return sleepUntil(ctx, p.due)
}

// anchor is called when the host's request has arrived.
func (p *pacer) anchor() {
	if now := time.Now(); p.started && now.After(p.due) {
		p.due = now
	}
}

// Plug lets a replay unplug and replug the device it plays.
type Plug interface {
	// Unplug makes the device vanish: the host's port fails.
	Unplug() error
	// Replug brings the device back and returns where its bytes go now.
	Replug(ctx context.Context) (io.ReadWriter, error)
}

// UnexpectedError is returned when an expected host request never came.
type UnexpectedError struct {
	At   time.Duration // trace time of the expected request
	Want []byte
	Got  []byte // what the host sent instead while the replay waited
}

func (e *UnexpectedError) Error() string {
	if len(e.Got) == 0 {
		return fmt.Sprintf("at %.3fs: host never sent the expected request % x", e.At.Seconds(), e.Want)
	}
	return fmt.Sprintf("at %.3fs: host sent % x, expected request % x", e.At.Seconds(), e.Got, e.Want)
}

// Serial plays the device side of a trace into port: device->host bytes are
// written at their time; a host->device event makes the replay wait until
// the host has sent those bytes, so poll/response devices answer only after
// the poll they expect. It returns when the trace ends (or ctx does).
func Serial(ctx context.Context, t *trace.Trace, port io.ReadWriter, o Options) error {
	host := newHostReader(port)
	for {
		pace := newPacer(o)
		for i, e := range t.Events {
			if err := pace.wait(ctx, e.T); err != nil {
				return err
			}
			if e.Host != nil {
				if o.OnWait != nil {
					o.OnWait(i, e)
				}
				if err := host.expect(ctx, e, o); err != nil {
					return err
				}
				pace.anchor()
			}
			if e.Dev != nil {
				if _, err := port.Write(e.Dev); err != nil {
					return fmt.Errorf("replay write at %.3fs: %w", e.T.Seconds(), err)
				}
			}
			if o.Plug != nil && e.Unplug {
				if err := o.Plug.Unplug(); err != nil {
					return fmt.Errorf("unplug at %.3fs: %w", e.T.Seconds(), err)
				}
			}
			if o.Plug != nil && e.Replug {
				p, err := o.Plug.Replug(ctx)
				if err != nil {
					return fmt.Errorf("replug at %.3fs: %w", e.T.Seconds(), err)
				}
				port, host = p, newHostReader(p)
			}
			if o.OnEvent != nil {
				o.OnEvent(i, e)
			}
		}
		if !o.Loop {
			return nil
		}
	}
}

func sleepUntil(ctx context.Context, due time.Time) error {
	d := time.Until(due)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// hostReader collects what the host writes, so expected polls can be matched.
type hostReader struct {
	buf  []byte
	data chan []byte
	err  chan error
}

func newHostReader(r io.Reader) *hostReader {
	h := &hostReader{data: make(chan []byte, 64), err: make(chan error, 1)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := r.Read(b)
			if n > 0 {
				h.data <- append([]byte(nil), b[:n]...)
			}
			if err != nil {
				h.err <- err
				return
			}
		}
	}()
	return h
}

func (h *hostReader) expect(ctx context.Context, e trace.Event, o Options) error {
	want := e.Host
	var timeout <-chan time.Time
	if o.ExpectTimeout > 0 {
		tm := time.NewTimer(o.ExpectTimeout)
		defer tm.Stop()
		timeout = tm.C
	}
	for {
		if i := bytes.Index(h.buf, want); i >= 0 {
			if i > 0 && o.Unexpected != nil {
				o.Unexpected(want, h.buf[:i])
			}
			h.buf = h.buf[i+len(want):]
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout:
			err := &UnexpectedError{At: e.T, Want: want, Got: append([]byte(nil), h.buf...)}
			if o.Unexpected != nil && len(h.buf) > 0 {
				o.Unexpected(want, h.buf)
			}
			return err
		case b := <-h.data:
			h.buf = append(h.buf, b...)
		case err := <-h.err:
			return fmt.Errorf("waiting for host poll % x: %w", want, err)
		}
	}
}
