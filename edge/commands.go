package edge

import (
	"encoding/json"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/internal/contract"
)

// onCommand answers a command from the hub on the box's reply topic.
// Commands carry an id and an expiry; an expired one is refused.
func (b *Box) onCommand(c mqtt.Client, m mqtt.Message) {
	var cmd contract.Command
	reply := contract.Reply{Schema: contract.ReplyV1, Time: time.Now().UTC()}
	switch err := json.Unmarshal(m.Payload(), &cmd); {
	case err != nil || cmd.Schema != contract.CommandV1 || cmd.ID == "":
		reply.Error = "malformed command"
	case !cmd.Expires.IsZero() && time.Now().After(cmd.Expires):
		reply.ID, reply.Name, reply.Error = cmd.ID, cmd.Name, "expired"
	default:
		reply.ID, reply.Name = cmd.ID, cmd.Name
		switch cmd.Name {
		case "ping":
			reply.OK = true
			reply.Result = map[string]string{"firmware": b.state("online").Firmware}
		case "resend": // the hub saw a gap in a device's sequence (publish.go)
			b.resend(cmd, &reply)
		default:
			reply.Error = "unknown command"
		}
	}
	b.log.Info("command", "id", reply.ID, "name", reply.Name, "ok", reply.OK, "error", reply.Error)
	js, _ := json.Marshal(reply)
	c.Publish(contract.Replies(b.cfg.Crossing, b.cfg.Box), 1, false, js)
}
