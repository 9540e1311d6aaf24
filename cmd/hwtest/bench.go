package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/kordon/kordon/hwtest/bench"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stdout, stderr)
	hours := fs.Float64("hours", 1, "length of the generated trace")
	every := fs.Duration("every", 5*time.Second, "one document this often")
	driver := fs.String("driver", "mrz", "driver to replay into (the generator speaks MRZ line mode)")
	if err := fs.parse(args); err != nil {
		return err
	}
	drv, err := findDriver(*driver)
	if err != nil {
		return err
	}
	tr, _ := bench.PassportTrace(time.Duration(*hours*float64(time.Hour)), *every)
	r, err := bench.Replay(ctx, drv, tr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r)
	return nil
}
