package edge

import (
	"errors"

	"github.com/kordon/kordon/edge/outbox"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/device"
	"github.com/kordon/kordon/internal/reading"
	"github.com/kordon/kordon/internal/schema"
)

// The path of one reading on the box is a line of small stages, in order:
// the reading is stamped, encoded once (inside the outbox append, which
// gives it its sequence number) and parsed once (to validate it), and the
// same bytes and parse are handed to every later stage. No stage encodes
// or decodes the reading again.

// taken is one reading on its way down the line.
type taken struct {
	out   *output
	r     reading.Reading
	class outbox.Class
	// env is the envelope as the hub receives it, encoded once; the later
	// stages share it and must not change it.
	env []byte
	doc map[string]any // env parsed for validation (numbers as json.Number); the rules read it
	seq uint64
	err error // why the outbox did not take it; nil once it is durable
}

// stage is one consumer on the line.
type stage func(t *taken)

// line is the stages every reading passes, in order.
func (b *Box) line() []stage {
	return []stage{
		b.toOutbox,   // sequence number, encode, validate, on disk: the reading is taken
		b.toBooth,    // the officer sees it even if the outbox failed: the traveller is at the window
		b.toTriggers, // local triggers fire even if the outbox failed: the alarm happened, the recorder must mark it
		b.account,    // a loss counted and logged, or a taken reading noted
	}
}

// toOutbox assigns the sequence number, encodes and validates the reading
// and makes it durable, in one step.
func (b *Box) toOutbox(t *taken) {
	t.seq, t.err = b.outbox.Append(t.r.Device, t.class, func(seq uint64) ([]byte, error) { return b.encode(t, seq) })
	if t.env == nil && t.err != nil {
		// The outbox refused before it asked for the bytes (closed): the
		// screen and the triggers still get the reading.
		t.env, _ = t.r.MarshalJSON()
	}
}

// encode gives the reading its sequence number, encodes it (the only
// time) and validates that encoding, parsed once.
func (b *Box) encode(t *taken, seq uint64) ([]byte, error) {
	t.r.Seq = seq
	js, err := t.r.MarshalJSON()
	if err != nil {
		return nil, invalid{err}
	}
	t.env = js
	doc, err := schema.Decode(js)
	if err == nil {
		t.doc, _ = doc.(map[string]any)
		err = b.valid.ValidateDecoded(doc)
	}
	if err != nil {
		return nil, invalid{err}
	}
	return js, nil
}

func (b *Box) toBooth(t *taken) {
	if t.env != nil {
		b.booth.Show(&t.r, t.env)
	}
}

func (b *Box) toTriggers(t *taken) {
	if t.env != nil {
		b.act.engine.Take(actuator.Input{Reading: &t.r, Envelope: t.env, Decoded: t.doc})
	}
}

// lost is nil for a reading the outbox took, and otherwise the reason the
// box counted it under, for the driver (device.Output).
func (t *taken) lost() error {
	var bad invalid
	switch {
	case t.err == nil:
		return nil
	case errors.As(t.err, &bad):
		return &device.Lost{Reason: outbox.LostInvalid, Err: t.err}
	}
	return &device.Lost{Reason: lostReason(t.err), Err: t.err}
}

// lostReason names the outbox's loss reason for a failed Append.
func lostReason(err error) string {
	switch {
	case errors.Is(err, outbox.ErrDropped):
		return outbox.LostFull
	case errors.Is(err, outbox.ErrFull):
		return "refused"
	case errors.Is(err, outbox.ErrDiskFull):
		return outbox.LostDiskFull
	}
	return outbox.LostWriteError
}

// account counts a reading the outbox did not take, by reason, and notes
// one it took. Only where a reading fails is logged, never its values.
func (b *Box) account(t *taken) {
	o, r := t.out, &t.r
	var bad invalid
	switch {
	case errors.As(t.err, &bad):
		// The hub would refuse it, and the box would resend it for ever:
		// not taken, counted.
		b.outbox.Lose(outbox.LostInvalid, 1)
		b.log.Error("reading lost: fails its schema", "device", o.dev, "kind", r.Kind(), "at", bad.where())
		o.Count("readings_invalid", 1)
	case t.err != nil:
		// The reading could not be made durable. Say so loudly, without its content.
		b.log.Error("reading lost: outbox append failed", "device", o.dev, "kind", r.Kind(), "class", t.class, "err", t.err)
		o.Count("readings_lost", 1)
	default:
		b.lastReading.Store(o.dev, r.Origin)
		b.noteEvidence(*r) // evidence.go: the files it references may be asked for
		b.log.Info("reading", "device", o.dev, "kind", r.Kind(), "seq", t.seq, "quality", r.Quality.Status)
	}
}
