package grammar

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func mustCompile(t *testing.T, s Spec) *Grammar {
	t.Helper()
	g, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestProfilesParseTheirExamples(t *testing.T) {
	for _, tc := range []struct {
		profile, line, record string
		alarm                 bool
		field, value          string
		at                    time.Time
	}{
		{"xray-console", "2026-11-01 09:00:01 L2 DECISION B000123 SEARCH knife", "decision", true, "category", "knife", time.Date(2026, 11, 1, 9, 0, 1, 0, time.UTC)},
		{"xray-console", "2026-11-01 09:00:01 L2 DECISION B000124 CLEAR", "decision", false, "item", "B000124", time.Date(2026, 11, 1, 9, 0, 1, 0, time.UTC)},
		{"xray-console", "2026-11-01 09:00:05 L2 ALARM B000125 organic high-Z", "alarm", true, "category", "organic high-Z", time.Date(2026, 11, 1, 9, 0, 5, 0, time.UTC)},
		{"xray-console", "2026-11-01 09:00:09 L2 STATUS READY", "status", false, "status", "READY", time.Date(2026, 11, 1, 9, 0, 9, 0, time.UTC)},
		{"xray-csv", "2026-11-01T09:00:01Z;L2;B1;THREAT;gun", "decision", true, "decision", "THREAT", time.Date(2026, 11, 1, 9, 0, 1, 0, time.UTC)},
		{"trace-csv", "2026-11-01 09:05:00,S0042,ALARM,TNT;RDX,0.93", "sample", true, "substances", "TNT;RDX", time.Date(2026, 11, 1, 9, 5, 0, 0, time.UTC)},
		{"trace-csv", "2026-11-01 09:05:00,S0043,CLEAR,,0.00", "sample", false, "sample", "S0043", time.Date(2026, 11, 1, 9, 5, 0, 0, time.UTC)},
		{"trace-kv", "T=1793523900 SAMPLE=42 RESULT=ALARM SUBST=TNT CONF=0.93", "sample", true, "substances", "TNT", time.Unix(1793523900, 0).UTC()},
	} {
		g := mustCompile(t, Spec{Profile: tc.profile})
		m, err := g.Parse(tc.line)
		if err != nil {
			t.Errorf("%s: %q: %v", tc.profile, tc.line, err)
			continue
		}
		if m.Record != tc.record || m.Alarm != tc.alarm || m.Fields[tc.field] != tc.value || !m.Time.Equal(tc.at) || m.TimeErr != nil {
			t.Errorf("%s: %q: got %+v", tc.profile, tc.line, m)
		}
	}
}

func TestUnmatchedLineIsErrNoMatch(t *testing.T) {
	g := mustCompile(t, Spec{Profile: "trace-csv"})
	for _, line := range []string{"", "garbage", "2026-11-01 09:05:00,S1,MAYBE,,", "2026-11-01 09:05:00,S0042,ALARM,TNT,0.93 trailing"} {
		if _, err := g.Parse(line); !errors.Is(err, ErrNoMatch) {
			t.Errorf("%q: err %v, want ErrNoMatch", line, err)
		}
	}
}

func TestBadTimestampKeepsTheRestOfTheMatch(t *testing.T) {
	g := mustCompile(t, Spec{Profile: "trace-csv"})
	m, err := g.Parse("2026-13-45 99:05:00,S7,ALARM,TNT,0.5")
	if err != nil {
		t.Fatal(err)
	}
	if m.TimeErr == nil || !m.Time.IsZero() || m.Fields["substances"] != "TNT" || !m.Alarm {
		t.Errorf("got %+v", m)
	}
}

func TestTimeZoneApplies(t *testing.T) {
	g := mustCompile(t, Spec{Profile: "xray-console", TimeZone: "Asia/Almaty"})
	m, err := g.Parse("2026-11-01 09:00:01 L2 STATUS READY")
	if err != nil {
		t.Fatal(err)
	}
	loc, err := time.LoadLocation("Asia/Almaty")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	if want := time.Date(2026, 11, 1, 9, 0, 1, 0, loc); !m.Time.Equal(want) {
		t.Errorf("time %v, want %v", m.Time, want)
	}
}

func TestCustomRecordsOverrideProfile(t *testing.T) {
	g := mustCompile(t, Spec{Profile: "xray-console", TimeFormat: "unix_ms", Records: []Record{
		{Name: "hit", Pattern: `HIT (?P<time>\d+) (?P<category>\w+)`, Alarm: &Cond{}},
	}})
	m, err := g.Parse("HIT 1793523900123 gun")
	if err != nil {
		t.Fatal(err)
	}
	if m.Record != "hit" || !m.Alarm || m.Time.UnixMilli() != 1793523900123 {
		t.Errorf("got %+v", m)
	}
	if _, err := g.Parse("2026-11-01 09:00:09 L2 STATUS READY"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("profile records still active: %v", err)
	}
}

func TestCompileErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{}, "records"},
		{Spec{Profile: "nope"}, `profile "nope" unknown`},
		{Spec{Records: []Record{{Pattern: "x"}}}, "records[0]: name missing"},
		{Spec{Records: []Record{{Name: "a", Pattern: "(x"}}}, "records[0] (a): pattern"},
		{Spec{Records: []Record{{Name: "a", Pattern: "x"}, {Name: "a", Pattern: "y"}}}, "name repeated"},
		{Spec{Records: []Record{{Name: "a", Pattern: "(?P<x>.)", Alarm: &Cond{Field: "y"}}}}, `alarm.field "y"`},
		{Spec{Records: []Record{{Name: "a", Pattern: strings.Repeat("x", MaxPattern+1)}}}, "longer than"},
		{Spec{Profile: "trace-csv", TimeZone: "Mars/Olympus"}, "time_zone"},
	} {
		_, err := Compile(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err %v, want it to mention %q", tc.spec, err, tc.want)
		}
	}
}

func BenchmarkParseTraceCSV(b *testing.B) {
	g, _ := Compile(Spec{Profile: "trace-csv"})
	for b.Loop() {
		g.Parse("2026-11-01 09:05:00,S0042,ALARM,TNT;RDX,0.93")
	}
}
