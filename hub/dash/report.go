package dash

import (
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// BoxHealth is one box as the health view shows it.
type BoxHealth struct {
	Box      string         `json:"box"`
	State    string         `json:"state"` // online | offline | unknown
	Since    time.Time      `json:"since"`
	Firmware string         `json:"firmware,omitempty"`
	Devices  []DeviceHealth `json:"devices"`
	// Incarnation is the life of its sequence state the box's state names
	// now; Incarnations every one the hub has recorded, oldest first.
	Incarnation  string        `json:"incarnation,omitempty"`
	Incarnations []Incarnation `json:"incarnations,omitempty"`
	// Loss is what the box says it could not keep (from its state).
	Loss *contract.Loss `json:"loss,omitempty"`
	// Refused counts the box's readings the hub refused, by reason.
	Refused     map[string]int64 `json:"refused,omitempty"`
	LastRefused time.Time        `json:"last_refused,omitempty"`
}

// DeviceHealth is one device of a box.
type DeviceHealth struct {
	Device      string    `json:"device"`
	Driver      string    `json:"driver,omitempty"`
	Kind        string    `json:"kind,omitempty"`
	State       string    `json:"state"` // up | down | unknown
	Reason      string    `json:"reason,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	Since       time.Time `json:"since"`
	LastReading time.Time `json:"last_reading"`
	Readings24h int64     `json:"readings_24h"`
	// Counters are the device's totals of what never became a reading
	// (noise, torn frames), from the box state.
	Counters map[string]int64 `json:"counters,omitempty"`
}

func (d *Dash) healthView(r *http.Request) ([]BoxHealth, error) {
	boxes := map[string]*BoxHealth{}
	dev := func(b *BoxHealth, id string) *DeviceHealth {
		for i := range b.Devices {
			if b.Devices[i].Device == id {
				return &b.Devices[i]
			}
		}
		b.Devices = append(b.Devices, DeviceHealth{Device: id, State: "unknown"})
		return &b.Devices[len(b.Devices)-1]
	}
	box := func(id string) *BoxHealth {
		if b := boxes[id]; b != nil {
			return b
		}
		b := &BoxHealth{Box: id, State: "unknown"}
		boxes[id] = b
		return b
	}
	var states [][]byte
	if d.opt.States != nil {
		states = d.opt.States()
	}
	for _, raw := range states {
		var head struct {
			Schema string `json:"schema"`
		}
		if json.Unmarshal(raw, &head) != nil {
			continue
		}
		switch head.Schema {
		case contract.StateV1:
			var s contract.State
			if json.Unmarshal(raw, &s) != nil || s.Box == "" {
				continue
			}
			b := box(s.Box)
			b.State, b.Since = s.State, s.Time
			if s.Firmware != "" {
				b.Firmware = s.Firmware
			}
			for _, it := range s.Devices {
				dv := dev(b, it.ID)
				dv.Driver, dv.Kind = it.Driver, it.Kind
			}
			b.Incarnation, b.Loss = s.Incarnation, s.Loss
			for id, cs := range s.Counters {
				dev(b, id).Counters = cs
			}
		case contract.AvailabilityV1:
			var a contract.DeviceAvailability
			if json.Unmarshal(raw, &a) != nil || a.Box == "" || a.Device == "" {
				continue
			}
			dv := dev(box(a.Box), a.Device)
			dv.State, dv.Reason, dv.Detail, dv.Since = a.State, a.Reason, a.Detail, a.Time
		}
	}
	act, err := d.opt.Store.Activity(r.Context(), time.Now().Add(-24*time.Hour))
	if err != nil {
		return nil, err
	}
	for _, a := range act {
		dv := dev(box(a.Box), a.Device)
		dv.LastReading, dv.Readings24h = a.Last, a.Count
	}
	recs, err := d.opt.Store.Boxes(r.Context())
	if err != nil {
		return nil, err
	}
	for _, rec := range recs {
		b := box(rec.Box)
		b.Incarnations = rec.Incarnations
		if len(rec.Refused) > 0 {
			b.Refused, b.LastRefused = rec.Refused, rec.LastRefused
		}
	}
	out := make([]BoxHealth, 0, len(boxes))
	for _, b := range boxes {
		sort.Slice(b.Devices, func(i, j int) bool { return b.Devices[i].Device < b.Devices[j].Device })
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Box < out[j].Box })
	return out, nil
}

func (d *Dash) health(w http.ResponseWriter, r *http.Request, _ *session) {
	h, err := d.healthView(r)
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	writeJSON(w, map[string]any{"boxes": h})
}

// Summary is the weekly summary for the coordination centre.
type Summary struct {
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Total      int            `json:"total"`
	BySeverity map[string]int `json:"by_severity"`
	ByState    map[string]int `json:"by_state"`
	ByRule     []Count        `json:"by_rule"`
	ByBooth    []Count        `json:"by_booth"`
	ByDay      []Count        `json:"by_day"`
	Repeats    int            `json:"repeats"`
	AckMedian  float64        `json:"ack_median_seconds"` // raised to acknowledged
	AckCount   int            `json:"acknowledged"`
	Unresolved int            `json:"unresolved"`
	Highest    []AlertView    `json:"highest"` // the week's high and critical alerts, newest first
}

// Count is one row of a breakdown.
type Count struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// weekSummary summarises the alerts of [from, from+7 days).
func weekSummary(alerts []AlertView, from time.Time) Summary {
	s := Summary{From: from, To: from.AddDate(0, 0, 7), BySeverity: map[string]int{}, ByState: map[string]int{}}
	rules, booths, days := map[string]int{}, map[string]int{}, map[string]int{}
	var acks []float64
	for _, a := range alerts {
		s.Total++
		s.BySeverity[a.Severity]++
		s.ByState[a.State]++
		rules[a.Rule]++
		booths[a.Box]++
		days[a.Time.UTC().Format("2006-01-02")]++
		s.Repeats += a.Repeats
		if a.State != "resolved" {
			s.Unresolved++
		}
		if t, err := time.Parse(time.RFC3339Nano, a.AckAt); err == nil {
			acks = append(acks, t.Sub(a.Raised).Seconds())
		}
		if (a.Severity == "high" || a.Severity == "critical") && len(s.Highest) < 50 {
			s.Highest = append(s.Highest, a)
		}
	}
	for i := 0; i < 7; i++ {
		k := from.AddDate(0, 0, i).Format("2006-01-02")
		s.ByDay = append(s.ByDay, Count{k, days[k]})
	}
	s.ByRule, s.ByBooth = counts(rules), counts(booths)
	s.AckCount = len(acks)
	if len(acks) > 0 {
		sort.Float64s(acks)
		s.AckMedian = acks[len(acks)/2]
		if len(acks)%2 == 0 {
			s.AckMedian = (acks[len(acks)/2-1] + acks[len(acks)/2]) / 2
		}
	}
	return s
}

func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// maxReport bounds how many alerts one summary or export reads.
const maxReport = 100000

func (d *Dash) summary(w http.ResponseWriter, r *http.Request, _ *session) {
	from, err := parseDay(r.URL.Query().Get("from"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if from.IsZero() { // the last seven whole days and today
		from = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -6)
	}
	alerts, err := d.opt.Store.SearchAlerts(r.Context(), Query{From: from, To: from.AddDate(0, 0, 7), Limit: maxReport})
	if err != nil {
		storeErr(w, d.opt.Log, err)
		return
	}
	writeJSON(w, weekSummary(alerts, from))
}
