package main

import (
	"context"
	"io"
	"log/slog"
	"os"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/accept"
)

func acceptCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("accept", stdout, stderr)
	config := fs.String("config", "", "the booth's edged config (default: box_config in the plan)")
	out := fs.String("out", "acceptance", "folder for the report and the recorded traces")
	format := fs.String("format", "md", "report format: md or html")
	verbose := fs.Bool("v", false, "show edged's log")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fs.usagef("give one PLAN.yaml")
	}
	plan, err := accept.LoadPlan(fs.Arg(0))
	if err != nil {
		return err
	}
	o := accept.Options{BoxConfig: *config, In: stdin, Out: stdout, OutDir: *out, Format: *format, Drivers: all.Drivers()}
	if *verbose {
		o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	rep, err := accept.Run(ctx, plan, o)
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return &exitError{code: 1, msg: "booth not accepted: see " + rep.Path}
	}
	return nil
}
