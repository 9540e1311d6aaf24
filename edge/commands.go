package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/kordon/kordon/drivers"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/atomicfile"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/family"
)

// onCommand answers a command from the hub on the box's reply topic.
// Commands carry an id and an expiry; an expired one is refused, and one
// delivered twice acts once (acceptCommand).
func (b *Box) onCommand(c mqtt.Client, m mqtt.Message) {
	reply, after := b.acceptCommand(m.Payload(), b.dispatch)
	b.log.Info("command", "id", reply.ID, "name", reply.Name, "ok", reply.OK, "error", reply.Error)
	js, _ := json.Marshal(reply)
	tok := c.Publish(contract.Replies(b.cfg.Crossing, b.cfg.Box), 1, false, js)
	if after != nil {
		go func() {
			tok.WaitTimeout(5 * time.Second)
			after()
		}()
	}
}

// dispatch runs one accepted command: decoded, unexpired, seen for the
// first time. It returns what to do once the reply is sent, if anything.
func (b *Box) dispatch(cmd contract.Command, reply *contract.Reply) (after func()) {
	switch cmd.Name {
	case "ping":
		reply.OK = true
		reply.Result = map[string]string{"firmware": b.state("online").Firmware}
	case "resend": // the hub saw a gap in a device's sequence (publish.go)
		b.resend(cmd, reply)
	case "reload-config":
		return b.reloadConfig(reply)
	default:
		b.familyCommand(cmd, reply)
	}
	return nil
}

// Command limits.
const (
	// maxHorizon refuses an expiry further ahead: ids are remembered until
	// their command expires, so this bounds the command log.
	maxHorizon = 24 * time.Hour
	// keepPast keeps ids this long after their expiry, against the box
	// clock stepping back (NTP catching up after boot).
	keepPast = time.Hour
	// maxLogged bounds the command log whatever the hub sends.
	maxLogged = 4096
	maxArgs   = 32
)

var (
	commandID   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	commandName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
)

// decodeCommand reads and checks one command message.
func decodeCommand(b []byte) (contract.Command, error) {
	var cmd contract.Command
	if len(b) > 64<<10 {
		return cmd, errors.New("larger than 64 KiB")
	}
	if err := json.Unmarshal(b, &cmd); err != nil {
		return cmd, errors.New("not a JSON command object")
	}
	switch {
	case cmd.Schema != contract.CommandV1:
		return cmd, fmt.Errorf("schema is not %s", contract.CommandV1)
	case !commandID.MatchString(cmd.ID):
		return cmd, errors.New("id must be 1-128 letters, digits or ._:-")
	case !commandName.MatchString(cmd.Name):
		return cmd, errors.New("name must be lower-case letters, digits or -")
	case cmd.Expires.IsZero():
		return cmd, errors.New("no expiry")
	case len(cmd.Args) > maxArgs:
		return cmd, fmt.Errorf("more than %d args", maxArgs)
	}
	for k, v := range cmd.Args {
		if len(k) == 0 || len(k) > 64 || len(v) > 1024 {
			return cmd, errors.New("args: keys 1-64 bytes, values up to 1024")
		}
	}
	return cmd, nil
}

// acceptCommand is the path of every command: decode, then idempotency
// (an id seen before gets its first reply again, marked duplicate, and
// does not act again), then expiry, then run. The id is written to the
// command log in state_dir before the command acts, so a restart cannot
// make it act twice: delivery is at most once, and a command whose outcome
// a restart cut off says so when it comes again.
//
// Authorisation is the broker's: only the hub's own client may publish on
// a box's commands topic (hub/auth.go), and MQTT 3.1.1 carries no sender.
func (b *Box) acceptCommand(payload []byte, run func(contract.Command, *contract.Reply) func()) (contract.Reply, func()) {
	now := time.Now()
	reply := contract.Reply{Schema: contract.ReplyV1, Time: now.UTC()}
	cmd, err := decodeCommand(payload)
	if err != nil {
		reply.Error = "malformed command: " + err.Error()
		b.countCommand("malformed")
		return reply, nil
	}
	reply.ID, reply.Name = cmd.ID, cmd.Name
	b.act.cmdMu.Lock()
	defer b.act.cmdMu.Unlock()
	log, err := b.commandLog()
	if err != nil {
		// Without the log a redelivery could act twice: refuse instead.
		b.log.Error("command log", "err", err)
		reply.Error = "command log unavailable"
		return reply, nil
	}
	if prev, ok := log.entries[cmd.ID]; ok {
		b.countCommand("duplicate")
		return prev.again(now), nil
	}
	switch {
	case now.After(cmd.Expires):
		reply.Error = "expired"
		b.countCommand("expired")
		return reply, nil
	case cmd.Expires.Sub(now) > maxHorizon:
		reply.Error = fmt.Sprintf("expiry more than %v ahead", maxHorizon)
		return reply, nil
	}
	if err := log.accept(cmd, now); err != nil {
		b.log.Error("command log", "err", err)
		reply.Error = "command log unavailable"
		return reply, nil
	}
	after := run(cmd, &reply)
	reply.Time = time.Now().UTC()
	if err := log.done(reply); err != nil {
		b.log.Error("command log: outcome not recorded", "id", cmd.ID, "err", err)
	}
	return reply, after
}

// countCommand counts refused and repeated commands under the pseudo-device
// "_commands" (status and metrics); no device id can start with "_".
func (b *Box) countCommand(what string) {
	(&output{box: b, dev: "_commands"}).Count(what, 1)
}

func (b *Box) commandLog() (*commandLog, error) {
	if b.act.cmds != nil {
		return b.act.cmds, nil
	}
	l, err := openCommandLog(filepath.Join(b.cfg.StateDir, "commands.json"))
	if err != nil {
		return nil, err
	}
	if l.discarded != "" {
		b.log.Error("command log unreadable; set aside, starting empty", "file", l.discarded)
	}
	b.act.cmds = l
	return l, nil
}

// familyCommand runs a command a device family declares (family.yaml
// commands:, e.g. cctv-trigger): the family's running actuator named by
// args.device (which may be left out when the box runs one) is asked for
// the command's action.
func (b *Box) familyCommand(cmd contract.Command, reply *contract.Reply) {
	fams, err := drivers.Families()
	if err != nil {
		reply.Error = err.Error()
		return
	}
	var fam family.Family
	var action string
	for _, f := range fams {
		for _, c := range f.Commands {
			if c.Name == cmd.Name {
				fam, action = f, c.Action
			}
		}
	}
	if action == "" {
		reply.Error = "unknown command"
		return
	}
	var devs []string
	for _, id := range b.act.engine.Devices() {
		if b.drivers[id].Kind == fam.Kind {
			devs = append(devs, id)
		}
	}
	dev := cmd.Args["device"]
	if dev == "" {
		if len(devs) != 1 {
			reply.Error = fmt.Sprintf("args.device needed: %d %s outputs running %v", len(devs), fam.Kind, devs)
			return
		}
		dev = devs[0]
	} else if d, ok := b.drivers[dev]; ok && d.Kind != fam.Kind {
		reply.Error = fmt.Sprintf("device %q is not a %s device", dev, fam.Kind)
		return
	}
	res, err := b.act.engine.Fire(dev, actuator.Request{Action: action, Cause: "command:" + cmd.ID})
	if err != nil {
		reply.Error = err.Error()
		return
	}
	reply.OK = true
	reply.Result = map[string]string{"device": dev, "action": res.Action}
	if res.Detail != "" {
		reply.Result["detail"] = res.Detail
	}
}

// reloadConfig validates the config file on disk as edged would load it.
// A valid one ends Run with ErrReload once the reply is sent, and edged's
// supervisor starts it again on the new file; an invalid one is refused
// with its file:line error and the box carries on unchanged.
func (b *Box) reloadConfig(reply *contract.Reply) (after func()) {
	if b.cfg.file == "" {
		reply.Error = "this box was not started from a config file"
		return nil
	}
	_, devs, err := LoadConfig(b.cfg.file, b.act.drivers)
	if err != nil {
		reply.Error = "new config refused: " + err.Error()
		return nil
	}
	reply.OK = true
	reply.Result = map[string]string{"config": b.cfg.file, "devices": strconv.Itoa(len(devs)), "restart": "edged restarts to apply it"}
	return func() { b.stop(ErrReload) }
}

// commandLog remembers the commands a box has accepted, and their replies,
// until they expire. It is one small JSON file, rewritten atomically on
// each change: commands are few, and a log that is always whole is worth
// more here than an append-only one.
type commandLog struct {
	path      string
	entries   map[string]*loggedCommand
	discarded string // an unreadable file set aside at open
}

type loggedCommand struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Expires  time.Time       `json:"expires"`
	Accepted time.Time       `json:"accepted"`
	Reply    *contract.Reply `json:"reply,omitempty"` // nil: accepted, outcome not recorded
}

type commandFile struct {
	Version  int              `json:"v"`
	Commands []*loggedCommand `json:"commands"`
}

func openCommandLog(path string) (*commandLog, error) {
	l := &commandLog{path: path, entries: map[string]*loggedCommand{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	var f commandFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		// Writes are atomic, so this is damage, not a torn write. Losing
		// the ids risks one repeat; refusing every command forever is worse.
		l.discarded = path + ".bad"
		if err := os.Rename(path, l.discarded); err != nil {
			return nil, err
		}
		return l, nil
	}
	for _, c := range f.Commands {
		if c != nil && c.ID != "" {
			l.entries[c.ID] = c
		}
	}
	return l, nil
}

// again is the reply to a repeated delivery.
func (c *loggedCommand) again(now time.Time) contract.Reply {
	r := contract.Reply{Schema: contract.ReplyV1, ID: c.ID, Name: c.Name,
		Error: "outcome unknown: the box restarted while running it; not run again"}
	if c.Reply != nil {
		r = *c.Reply
	}
	res := map[string]string{}
	for k, v := range r.Result {
		res[k] = v
	}
	res["duplicate"] = "true"
	r.Result, r.Time = res, now.UTC()
	return r
}

func (l *commandLog) accept(cmd contract.Command, now time.Time) error {
	for id, c := range l.entries {
		if now.Sub(c.Expires) > keepPast {
			delete(l.entries, id)
		}
	}
	for len(l.entries) >= maxLogged {
		var oldest *loggedCommand
		for _, c := range l.entries {
			if oldest == nil || c.Expires.Before(oldest.Expires) {
				oldest = c
			}
		}
		delete(l.entries, oldest.ID)
	}
	l.entries[cmd.ID] = &loggedCommand{ID: cmd.ID, Name: cmd.Name, Expires: cmd.Expires.UTC(), Accepted: now.UTC()}
	return l.save()
}

func (l *commandLog) done(r contract.Reply) error {
	c, ok := l.entries[r.ID]
	if !ok {
		return nil
	}
	c.Reply = &r
	return l.save()
}

func (l *commandLog) save() error {
	f := commandFile{Version: 1, Commands: make([]*loggedCommand, 0, len(l.entries))}
	for _, c := range l.entries {
		f.Commands = append(f.Commands, c)
	}
	sort.Slice(f.Commands, func(i, j int) bool { return f.Commands[i].Accepted.Before(f.Commands[j].Accepted) })
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return atomicfile.Write(l.path, b, 0o600)
}
