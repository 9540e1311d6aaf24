package edge

import (
	"encoding/json"
	"testing"

	"github.com/kordon/kordon/internal/contract"
)

// FuzzDecodeCommand: any bytes on the commands topic give a command that
// holds the checks, or an error; never a panic. Seeds: testdata/fuzz.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"schema":"kordon.command/1","id":"cmd-1","name":"cctv-trigger","args":{"device":"cctv1"},"expires":"2026-11-22T10:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmd, err := decodeCommand(b)
		if err != nil {
			return
		}
		if cmd.Schema != contract.CommandV1 || !commandID.MatchString(cmd.ID) || !commandName.MatchString(cmd.Name) ||
			cmd.Expires.IsZero() || len(cmd.Args) > maxArgs {
			t.Fatalf("accepted %+v", cmd)
		}
		// What was accepted survives the round trip the command log makes.
		js, err := json.Marshal(cmd)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeCommand(js)
		if err != nil || again.ID != cmd.ID || !again.Expires.Equal(cmd.Expires) {
			t.Fatalf("round trip: %+v, %v", again, err)
		}
	})
}
