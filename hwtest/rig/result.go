package rig

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/kordon/kordon/hub"
	"github.com/kordon/kordon/hwtest/harness"
	"github.com/kordon/kordon/internal/contract"
	"github.com/kordon/kordon/internal/reading"
)

// Result is what a rig run found.
type Result struct {
	Rig         string
	File        string
	Speed       float64
	Elapsed     time.Duration
	Readings    map[string][]reading.Reading // by device, in sequence order
	Alerts      []contract.Alert
	HubCounters *hub.Counters
	Cases       []Case
	Err         error // the run itself went wrong (timeout, replay failure)
}

// Case is one check of the run: a device against its golden file, an
// expected alert, or the absence of unexpected alerts.
type Case struct {
	Name    string
	Passed  bool
	Summary string   // one line
	Details []string // one line per difference
	Elapsed time.Duration
}

// Failed says whether anything did not match.
func (r *Result) Failed() bool {
	if r.Err != nil {
		return true
	}
	for _, c := range r.Cases {
		if !c.Passed {
			return true
		}
	}
	return false
}

func (r *Result) evaluate(rg *Rig, devs []*devRun, runErr error) {
	r.Err = runErr
	for _, d := range devs {
		r.Cases = append(r.Cases, r.deviceCase(rg, d))
	}
	if rg.Alerts != nil {
		r.Cases = append(r.Cases, r.alertCases(*rg.Alerts)...)
	}
}

func (r *Result) deviceCase(rg *Rig, d *devRun) Case {
	spec := d.spec
	c := Case{Name: "device " + spec.ID + " (" + spec.Driver + ")", Passed: true}
	got := r.Readings[spec.ID]
	d.mu.Lock()
	replayErr, unexpected := d.replayErr, d.unexpected
	d.mu.Unlock()
	if replayErr != nil {
		c.Passed = false
		c.Details = append(c.Details, "replay: "+replayErr.Error())
	}
	for _, u := range unexpected {
		c.Details = append(c.Details, "note: "+u)
	}
	if n := d.emitted.Load(); int64(len(got)) != n {
		c.Passed = false
		c.Details = append(c.Details, fmt.Sprintf("the driver emitted %d readings but %d reached the %s", n, len(got), kindOf(r)))
	}
	if spec.Expect != nil && spec.Expect.Unplugs != nil {
		if n := int(d.unplugs.Load()); n != *spec.Expect.Unplugs {
			c.Passed = false
			c.Details = append(c.Details, fmt.Sprintf("device came back after %d unplugs, want %d", n, *spec.Expect.Unplugs))
		}
	}
	if spec.Golden == "" {
		c.Summary = fmt.Sprintf("%d readings (no golden file: not compared)", len(got))
		return c
	}
	tol := harness.Tolerance{Timing: spec.Tolerance.Timing, Values: spec.Tolerance.Values}
	var offset func(reading.Reading) time.Duration
	if rg.Speed > 0 {
		offset = func(rd reading.Reading) time.Duration { return d.clock.offset(rd, rg.Speed) }
	}
	diffs, err := harness.Compare(got, spec.golden, tol, offset)
	if err != nil {
		c.Passed = false
		c.Details = append(c.Details, "compare: "+err.Error())
	}
	for _, df := range diffs {
		line := df.String()
		if df.Reading <= len(got) && df.Got != "" && df.Want != "" {
			rd := got[df.Reading-1]
			line = fmt.Sprintf("reading %d (seq %d): %s", df.Reading, rd.Seq, strings.TrimPrefix(line, fmt.Sprintf("reading %d: ", df.Reading)))
		}
		c.Details = append(c.Details, line)
	}
	if len(diffs) > 0 {
		c.Passed = false
		c.Summary = fmt.Sprintf("%d readings, golden %s has %d: %d differences", len(got), spec.Golden, len(spec.golden), len(diffs))
	} else if c.Passed {
		c.Summary = fmt.Sprintf("%d readings match %s", len(got), spec.Golden)
	} else {
		c.Summary = fmt.Sprintf("%d readings", len(got))
	}
	return c
}

func kindOf(r *Result) string {
	if r.HubCounters != nil {
		return "hub"
	}
	return "broker"
}

func (r *Result) alertCases(want []Alert) []Case {
	used := make([]bool, len(r.Alerts))
	var cases []Case
	for _, w := range want {
		n := 0
		var seen []string
		for i, a := range r.Alerts {
			if used[i] || a.Rule != w.Rule || (w.Device != "" && a.Device != w.Device) {
				continue
			}
			if w.Severity != "" && a.Severity != w.Severity {
				seen = append(seen, fmt.Sprintf("alert %s on %s has severity %s, want %s", a.Rule, a.Device, a.Severity, w.Severity))
				continue
			}
			if n < w.Count {
				used[i] = true
				n++
			}
		}
		name := "alert " + w.Rule
		if w.Device != "" {
			name += " on " + w.Device
		}
		c := Case{Name: name, Passed: n == w.Count, Details: seen}
		c.Summary = fmt.Sprintf("raised %d times, want %d", n, w.Count)
		if n == w.Count {
			// Count the rest too: more than expected is a failure.
			extra := 0
			for i, a := range r.Alerts {
				if !used[i] && a.Rule == w.Rule && (w.Device == "" || a.Device == w.Device) && (w.Severity == "" || a.Severity == w.Severity) {
					extra++
					used[i] = true
				}
			}
			if extra > 0 {
				c.Passed = false
				c.Summary = fmt.Sprintf("raised %d times, want %d", n+extra, w.Count)
			}
		}
		cases = append(cases, c)
	}
	c := Case{Name: "no unexpected alerts", Passed: true, Summary: "none"}
	for i, a := range r.Alerts {
		if !used[i] {
			c.Passed = false
			c.Details = append(c.Details, fmt.Sprintf("unexpected alert %s (%s) on %s: %s", a.Rule, a.Severity, a.Device, a.Summary))
		}
	}
	if !c.Passed {
		c.Summary = fmt.Sprintf("%d unexpected", len(c.Details))
	}
	return append(cases, c)
}

// WriteText prints the readable report.
func (r *Result) WriteText(w io.Writer) {
	verdict := "PASS"
	if r.Failed() {
		verdict = "FAIL"
	}
	speed := "as fast as ordering allows"
	if r.Speed > 0 {
		speed = fmt.Sprintf("%g× real time", r.Speed)
	}
	fmt.Fprintf(w, "rig %s (%s): %s in %s, %s\n", r.Rig, r.File, verdict, r.Elapsed.Round(time.Millisecond), speed)
	for _, c := range r.Cases {
		mark := "ok  "
		if !c.Passed {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.Name, c.Summary)
		for _, d := range c.Details {
			fmt.Fprintf(w, "         %s\n", d)
		}
	}
	if r.HubCounters != nil {
		h := r.HubCounters
		fmt.Fprintf(w, "  hub: %d readings stored, %d duplicates, %d refused payloads, %d alerts\n", h.Readings, h.Duplicates, h.Refused, h.Alerts)
	}
	if r.Err != nil {
		fmt.Fprintf(w, "  error: %v\n", r.Err)
	}
}

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
	Err      *junitFail  `xml:"system-err,omitempty"`
}

type junitCase struct {
	Name      string     `xml:"name,attr"`
	Classname string     `xml:"classname,attr"`
	Time      string     `xml:"time,attr"`
	Failure   *junitFail `xml:"failure,omitempty"`
	Out       string     `xml:"system-out,omitempty"`
}

type junitFail struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the result as JUnit XML (one suite per rig, one case
// per device and alert check), for CI and test dashboards.
func (r *Result) WriteJUnit(w io.Writer) error { return WriteJUnit(w, r) }

// WriteJUnit writes several rigs' results as one JUnit XML document.
func WriteJUnit(w io.Writer, rs ...*Result) error {
	var all junitSuites
	for _, r := range rs {
		all.Suites = append(all.Suites, r.junit())
	}
	io.WriteString(w, xml.Header)
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func (r *Result) junit() junitSuite {
	s := junitSuite{Name: "rig " + r.Rig, Time: fmt.Sprintf("%.3f", r.Elapsed.Seconds())}
	for _, c := range r.Cases {
		jc := junitCase{Name: c.Name, Classname: "hwtest.rig." + r.Rig, Time: "0", Out: c.Summary}
		if !c.Passed {
			s.Failures++
			jc.Failure = &junitFail{Message: c.Summary, Type: "mismatch", Text: strings.Join(c.Details, "\n")}
		}
		s.Cases = append(s.Cases, jc)
	}
	if r.Err != nil {
		s.Errors++
		s.Cases = append(s.Cases, junitCase{Name: "run", Classname: "hwtest.rig." + r.Rig, Time: "0",
			Failure: &junitFail{Message: r.Err.Error(), Type: "error"}})
	}
	s.Tests = len(s.Cases)
	return s
}
