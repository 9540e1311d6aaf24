package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kordon/kordon/drivers/all"
	"github.com/kordon/kordon/hwtest/rig"
)

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", stdout, stderr)
	junit := fs.String("junit", "", "write JUnit XML to this file")
	speed := fs.Float64("speed", -1, "override the rigs' speed (0 as fast as ordering allows, 1 real time)")
	verbose := fs.Bool("v", false, "show edged's and the hub's logs")
	quiet := fs.Bool("q", false, "no progress lines")
	if err := fs.parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fs.usagef("give at least one RIG.yaml")
	}
	o := rig.Options{}
	if !*quiet {
		o.Progress = stderr
	}
	if *verbose {
		o.Log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	var results []*rig.Result
	failed := 0
	for _, path := range fs.Args() {
		r, err := rig.Load(path, all.Drivers())
		if err != nil {
			return err
		}
		if *speed >= 0 {
			r.Speed = *speed
		}
		fmt.Fprintf(stderr, "hwtest: running rig %s (%d devices)\n", r.Name, len(r.Devices))
		res, err := rig.Run(ctx, r, all.Drivers(), o)
		if err != nil {
			return fmt.Errorf("rig %s: %w", path, err)
		}
		res.WriteText(stdout)
		results = append(results, res)
		if res.Failed() {
			failed++
		}
	}
	if *junit != "" {
		f, err := os.Create(*junit)
		if err != nil {
			return err
		}
		if err := rig.WriteJUnit(f, results...); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("%d of %d rigs failed", failed, len(results))}
	}
	return nil
}
