package screening

import (
	"encoding/json"
	"errors"
	"github.com/kordon/kordon/internal/atomicfile"
	"os"
	"path/filepath"
	"slices"
)

// FeverState keeps which sensors of a device are in fever, in the device's
// state dir, so that an edged restart mid-fever neither announces the fever
// a second time nor forgets to announce its end.
type FeverState struct {
	path  string
	fever map[string]bool
	// Count is told about a state file that could not be read or written
	// (fever_state_unreadable, fever_state_write_failed).
	Count func(what string, n int)
}

// feverFile is the state's file name inside the device's state dir.
const feverFile = "fever.json"

// OpenFeverState reads the state kept in dir; dir "" keeps nothing (nil).
// An unreadable or corrupt file starts empty and is counted: a fever may
// then be announced again, which is better than not at all.
func OpenFeverState(dir string, count func(string, int)) *FeverState {
	if dir == "" {
		return nil
	}
	f := &FeverState{path: filepath.Join(dir, feverFile), fever: map[string]bool{}, Count: count}
	b, err := os.ReadFile(f.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			f.count("fever_state_unreadable")
		}
		return f
	}
	var names []string
	if err := json.Unmarshal(b, &names); err != nil {
		f.count("fever_state_unreadable")
		return f
	}
	for _, n := range names {
		f.fever[n] = true
	}
	return f
}

func (f *FeverState) count(what string) {
	if f.Count != nil {
		f.Count(what, 1)
	}
}

// Fever says whether sensor was in fever when the state was last written.
func (f *FeverState) Fever(sensor string) bool { return f != nil && f.fever[sensor] }

// Set records sensor's fever state, written to a temp file and renamed
// into place so a power cut leaves the old state or the new one.
func (f *FeverState) Set(sensor string, fever bool) {
	if f == nil || f.fever[sensor] == fever {
		return
	}
	if fever {
		f.fever[sensor] = true
	} else {
		delete(f.fever, sensor)
	}
	names := make([]string, 0, len(f.fever))
	for n := range f.fever {
		names = append(names, n)
	}
	slices.Sort(names)
	b, _ := json.Marshal(names)
	if err := atomicfile.Write(f.path, b, 0o644); err != nil {
		f.count("fever_state_write_failed")
	}
}
