package edge

import (
	"context"
	"errors"
	"sync"

	"github.com/kordon/kordon/edge/trigger"
	"github.com/kordon/kordon/internal/actuator"
	"github.com/kordon/kordon/internal/device"
)

// ErrReload ends Box.Run after a reload-config command found a valid new
// configuration on disk: edged exits and its supervisor starts it again
// with the new file.
var ErrReload = errors.New("restart requested to apply a new configuration")

// actuation is what lets a box act rather than only report: local
// triggers (edge/trigger) fed from the reading path, and the state behind
// commands from the hub (commands.go).
type actuation struct {
	engine  trigger.Engine
	drivers []device.Driver // to validate a config on reload-config

	mu     sync.Mutex
	cancel context.CancelCauseFunc // ends Run (reload-config)

	cmdMu sync.Mutex  // commands run one at a time
	cmds  *commandLog // opened on the first command
}

// runContext derives Run's context, so a command can end Run with a cause.
func (b *Box) runContext(ctx context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	b.act.mu.Lock()
	b.act.cancel = cancel
	b.act.mu.Unlock()
	b.act.engine.OnFire = func(dev string, req actuator.Request, res actuator.Result, err error) {
		if err != nil {
			b.log.Error("local trigger failed", "actuator", dev, "cause", req.Cause, "err", err)
			(&output{box: b, dev: dev}).Count("trigger_errors", 1)
			return
		}
		b.log.Info("local trigger", "actuator", dev, "cause", req.Cause, "action", res.Action)
		(&output{box: b, dev: dev}).Count("triggers_"+res.Action, 1)
	}
	return ctx, cancel
}

// runResult is what Run returns once its devices have stopped.
func runResult(ctx context.Context) error {
	if errors.Is(context.Cause(ctx), ErrReload) {
		return ErrReload
	}
	return nil
}

// stop ends Run with a cause.
func (b *Box) stop(cause error) {
	b.act.mu.Lock()
	cancel := b.act.cancel
	b.act.mu.Unlock()
	if cancel != nil {
		cancel(cause)
	}
}

// AttachActuator implements actuator.Attacher (device.Config.Actuation): an actuator device (cctv)
// registers itself and its rules while it runs.
func (o *output) AttachActuator(a actuator.Actuator, rules []actuator.Rule) (detach func()) {
	return o.box.act.engine.Attach(o.dev, a, rules)
}
