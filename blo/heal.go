package blo

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// JetStream retries a source whose other end could not be reached with a
// growing back-off of up to two minutes, so after a partition (or when
// the other end starts later) a link can be up again long before the data
// flows. HealSource restarts the source at once when the other end answers
// again: the stream finds where it was from the source headers of what it
// already holds, and the message ids plus the stores' unique keys absorb
// any overlap, so a restart can neither lose nor double anything.

// sourceStale is how long a healthy source may be silent (its consumer
// sends an idle heartbeat every second).
const sourceStale = 12 * time.Second

// HealSource checks the first source of stream (held in js's account) and
// restarts it if it is failing while its domain answers. It reports
// whether it restarted it.
func HealSource(ctx context.Context, js jetstream.JetStream, stream, domain string) (bool, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, err
	}
	if len(info.Sources) == 0 || len(info.Config.Sources) == 0 {
		return false, nil
	}
	src := info.Sources[0]
	if src.Error == nil && src.Active >= 0 && src.Active < sourceStale {
		return false, nil
	}
	peer, err := jetstream.NewWithDomain(js.Conn(), domain)
	if err != nil {
		return false, err
	}
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	_, err = peer.AccountInfo(pctx)
	cancel()
	if err != nil {
		return false, nil // the other end is still away: nothing to heal yet
	}
	// The filter is switched between two spellings that match the same
	// subjects (every subject on the BLO network has five tokens), which
	// makes the server set the source up again now.
	cfg := info.Config
	f := cfg.Sources[0].FilterSubject
	switch {
	case strings.HasSuffix(f, ".>"):
		cfg.Sources[0].FilterSubject = strings.TrimSuffix(f, ">") + "*"
	case strings.HasSuffix(f, ".*"):
		cfg.Sources[0].FilterSubject = strings.TrimSuffix(f, "*") + ">"
	default:
		return false, nil
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return false, err
	}
	return true, nil
}
