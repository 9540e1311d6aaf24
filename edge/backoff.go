package edge

import "time"

// reopenBackoff paces the reopening of one failed device: it doubles from
// minBackoff to maxBackoff while the device keeps failing at once, and
// starts over after a run longer than maxBackoff.
type reopenBackoff struct {
	wait    time.Duration
	lastErr string
	logged  time.Time
}

// next is the wait before the next open after a run of length ran that
// ended in errText, and whether to log it (a new error, or the same one
// not logged for backoffLogEvery).
func (r *reopenBackoff) next(ran time.Duration, errText string, now time.Time) (time.Duration, bool) {
	if r.wait == 0 || ran > maxBackoff {
		r.wait = minBackoff
	} else {
		r.wait = min(r.wait*2, maxBackoff)
	}
	logIt := errText != r.lastErr || now.Sub(r.logged) >= backoffLogEvery
	if logIt {
		r.lastErr, r.logged = errText, now
	}
	return r.wait, logIt
}
