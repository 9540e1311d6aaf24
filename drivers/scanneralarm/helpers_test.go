package scanneralarm

import (
	"time"

	"github.com/kordon/kordon/internal/framing"
)

func frame(s string) framing.Frame {
	return framing.Frame{Data: []byte(s), At: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
}
