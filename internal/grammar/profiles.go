package grammar

import "slices"

// Profiles are grammars for line formats seen on site. Vendors keep their
// live protocols private, so these are the shapes installers meet most, not
// any vendor's specification; a site whose device differs writes its own
// records (or overrides time_format/time_zone of a profile).
//
// Field names are a convention the drivers read:
//   - X-ray / scanner consoles: time, lane, item, decision, category, operator, status
//   - trace detectors: time, sample, result, substances, confidence, status
func profiles() map[string]Spec {
	return map[string]Spec{
		// Space separated console log: "2026-11-01 09:00:01 L2 DECISION B000123 SEARCH knife"
		"xray-console": {
			TimeFormat: "2006-01-02 15:04:05",
			Records: []Record{
				{Name: "decision",
					Pattern: `(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(?P<lane>\S+) +DECISION +(?P<item>\S+) +(?P<decision>CLEAR|SEARCH|SUSPECT|ALARM)(?: +(?P<category>.+?))? *`,
					Alarm:   &Cond{Field: "decision", Values: []string{"SEARCH", "SUSPECT", "ALARM"}}},
				{Name: "alarm",
					Pattern: `(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(?P<lane>\S+) +ALARM +(?P<item>\S+)(?: +(?P<category>.+?))? *`,
					Alarm:   &Cond{}},
				{Name: "status",
					Pattern: `(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) +(?P<lane>\S+) +STATUS +(?P<status>.+?) *`},
			},
		},
		// Semicolon separated export: "2026-11-01T09:00:01Z;L2;B000123;SEARCH;knife"
		"xray-csv": {
			TimeFormat: "rfc3339",
			Records: []Record{
				{Name: "decision",
					Pattern: `(?P<time>[^;]+);(?P<lane>[^;]*);(?P<item>[^;]*);(?P<decision>[A-Za-z]+)(?:;(?P<category>[^;]*))?`,
					Alarm:   &Cond{Field: "decision", Values: []string{"SEARCH", "SUSPECT", "ALARM", "THREAT"}}},
			},
		},
		// Ion mobility spectrometer result line:
		// "2026-11-01 09:05:00,S0042,ALARM,TNT;RDX,0.93"
		"trace-csv": {
			TimeFormat: "2006-01-02 15:04:05",
			Records: []Record{
				{Name: "sample",
					Pattern: `(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d),(?P<sample>[^,]*),(?P<result>CLEAR|ALARM|ALERT|FAIL),(?P<substances>[^,]*),(?P<confidence>[0-9.]*)`,
					Alarm:   &Cond{Field: "result", Values: []string{"ALARM", "ALERT"}}},
				{Name: "status",
					Pattern: `(?P<time>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d),STATUS,(?P<status>[^,]*)`},
			},
		},
		// Key=value result line, any order not supported (RE2 has no lookahead):
		// "T=1793523900 SAMPLE=42 RESULT=ALARM SUBST=TNT CONF=0.93"
		"trace-kv": {
			TimeFormat: "unix",
			Records: []Record{
				{Name: "sample",
					Pattern: `T=(?P<time>\d+) +SAMPLE=(?P<sample>\S+) +RESULT=(?P<result>\S+)(?: +SUBST=(?P<substances>\S*))?(?: +CONF=(?P<confidence>[0-9.]+))? *`,
					Alarm:   &Cond{Field: "result", Values: []string{"ALARM", "ALERT", "DETECT"}}},
			},
		},
	}
}

// Profiles lists the built-in profile names.
func Profiles() []string {
	out := make([]string, 0, len(profiles()))
	for k := range profiles() {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
