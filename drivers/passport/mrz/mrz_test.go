package mrz

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/reading"
)

// now is the fixed box clock of the tests.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// ICAO Doc 9303 specimens (Utopia). Every check digit verified by CheckDigit
// in TestSpecimenDigits.
var (
	td3 = []string{
		"P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L898902C36UTO7408122F1204159ZE184226B<<<<<10",
	}
	td1 = []string{
		"I<UTOD231458907<<<<<<<<<<<<<<<",
		"7408122F1204159UTO<<<<<<<<<<<6",
		"ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
	}
	td2 = []string{
		"I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
		"D231458907UTO7408122F1204159<<<<<<<6",
	}
	mrvA = []string{
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
		"L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
	}
	mrvB = []string{
		"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<",
		"L8988901C4XXX4009078F9612109<<<<<<<<",
	}
)

// TestSpecimenDigits recomputes every check digit of the specimens
// independently of the layout code, from ICAO's position tables.
func TestSpecimenDigits(t *testing.T) {
	type digit struct {
		name  string
		input string
		at    byte
	}
	cat := func(s ...string) string { return strings.Join(s, "") }
	for _, d := range []digit{
		{"TD3 number", td3[1][0:9], td3[1][9]},
		{"TD3 birth", td3[1][13:19], td3[1][19]},
		{"TD3 expiry", td3[1][21:27], td3[1][27]},
		{"TD3 personal", td3[1][28:42], td3[1][42]},
		{"TD3 composite", cat(td3[1][0:10], td3[1][13:20], td3[1][21:43]), td3[1][43]},
		{"TD1 number", td1[0][5:14], td1[0][14]},
		{"TD1 birth", td1[1][0:6], td1[1][6]},
		{"TD1 expiry", td1[1][8:14], td1[1][14]},
		{"TD1 composite", cat(td1[0][5:30], td1[1][0:7], td1[1][8:15], td1[1][18:29]), td1[1][29]},
		{"TD2 number", td2[1][0:9], td2[1][9]},
		{"TD2 birth", td2[1][13:19], td2[1][19]},
		{"TD2 expiry", td2[1][21:27], td2[1][27]},
		{"TD2 composite", cat(td2[1][0:10], td2[1][13:20], td2[1][21:35]), td2[1][35]},
		{"MRV-A number", mrvA[1][0:9], mrvA[1][9]},
		{"MRV-A birth", mrvA[1][13:19], mrvA[1][19]},
		{"MRV-A expiry", mrvA[1][21:27], mrvA[1][27]},
		{"MRV-B number", mrvB[1][0:9], mrvB[1][9]},
		{"MRV-B birth", mrvB[1][13:19], mrvB[1][19]},
		{"MRV-B expiry", mrvB[1][21:27], mrvB[1][27]},
	} {
		if got, ok := CheckDigit(d.input); !ok || got != d.at {
			t.Errorf("%s: CheckDigit(%q) = %q, %v; specimen has %q", d.name, d.input, got, ok, d.at)
		}
	}
}

func mustParse(t *testing.T, rows []string, now time.Time) *Document {
	t.Helper()
	d, err := Parse(rows, now)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return d
}

func checksOf(d *Document) map[string]bool {
	m := map[string]bool{}
	for _, c := range d.Checks {
		m[c.Field] = c.OK
	}
	return m
}

func TestParseTD3Specimen(t *testing.T) {
	d := mustParse(t, td3, now)
	want := &Document{
		Format: TD3, DocumentCode: "P", Issuer: "UTO", Number: "L898902C3", Nationality: "UTO",
		BirthDate: "1974-08-12", Sex: "F", ExpiryDate: "2012-04-15",
		PrimaryName: "ERIKSSON", SecondaryName: "ANNA MARIA", OptionalData: "ZE184226B",
		Checks: []Check{
			{"number", "6", "6", true}, {"birth_date", "2", "2", true}, {"expiry_date", "9", "9", true},
			{"optional_data", "1", "1", true}, {"composite", "0", "0", true},
		},
		Valid: true, Expired: ptr(true), Minor: ptr(false), Candidates: []Candidate{}, Rows: td3,
		quality: reading.Quality{Status: reading.OK},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("Parse(TD3 specimen)\n got %+v\nwant %+v", d, want)
	}
	if d.Kind() != "document" {
		t.Errorf("Kind = %q", d.Kind())
	}
	if q := d.Quality(); q.Status != reading.OK || q.Reason != "" {
		t.Errorf("Quality = %+v", q)
	}
	var _ reading.Payload = d
}

func TestDocumentJSON(t *testing.T) {
	d := mustParse(t, td3, now)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "document_code", "issuer", "number", "nationality", "birth_date",
		"sex", "expiry_date", "primary_name", "secondary_name", "name_truncated", "optional_data",
		"checks", "valid", "expired", "minor", "candidates", "rows"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
	if m["birth_date"] != "1974-08-12" || m["number"] != "L898902C3" {
		t.Errorf("JSON values: %s", b)
	}
	if _, ok := m["optional_data_2"]; ok {
		t.Errorf("TD3 JSON has optional_data_2")
	}
	c := m["checks"].([]any)[0].(map[string]any)
	if c["field"] != "number" || c["read"] != "6" || c["computed"] != "6" || c["ok"] != true {
		t.Errorf("check JSON = %v", c)
	}
}

// TestPersonalPointers pins which fields logs redact.
func TestPersonalPointers(t *testing.T) {
	got := reading.PersonalPointers(mustParse(t, td3, now))
	want := []string{"/payload/number", "/payload/birth_date", "/payload/primary_name",
		"/payload/secondary_name", "/payload/optional_data", "/payload/optional_data_2",
		"/payload/candidates", "/payload/rows"}
	if !slices.Equal(got, want) {
		t.Errorf("PersonalPointers = %v\nwant %v", got, want)
	}
	// End to end: a redacted envelope holds none of the personal values.
	d := mustParse(t, []string{td3[0], strings.Replace(td3[1], "7408122", "74O8122", 1)}, now)
	env, err := json.Marshal(reading.Reading{Payload: d, Quality: d.Quality(), Raw: []byte(strings.Join(td3, "\r"))})
	if err != nil {
		t.Fatal(err)
	}
	red := string(reading.Redacted(env))
	for _, secret := range []string{"L898902C3", "ERIKSSON", "ANNA", "1974", "74O812", "ZE184226B"} {
		if strings.Contains(red, secret) {
			t.Errorf("redacted envelope shows %q: %s", secret, red)
		}
	}
	if !strings.Contains(red, `"status":"suspect"`) {
		t.Errorf("redacted envelope lost its quality: %s", red)
	}
}

func TestTD3Variants(t *testing.T) {
	row2 := td3[1]
	set := func(s string, pos int, c string) string { return s[:pos-1] + c + s[pos-1+len(c):] }
	for _, tc := range []struct {
		name   string
		rows   []string
		valid  bool
		failed []string
		check  func(t *testing.T, d *Document)
	}{
		{"personal number empty, 43 '<'", []string{td3[0], withComposite(set(row2, 29, "<<<<<<<<<<<<<<<"))}, true, nil,
			func(t *testing.T, d *Document) {
				if d.OptionalData != "" || d.Checks[3] != (Check{"optional_data", "<", "0", true}) {
					t.Errorf("optional = %q, check %+v", d.OptionalData, d.Checks[3])
				}
			}},
		{"personal number empty, 43 '0'", []string{td3[0], withComposite(set(row2, 29, "<<<<<<<<<<<<<<0"))}, true, nil, nil},
		{"personal number empty, 43 '3'", []string{td3[0], withComposite(set(row2, 29, "<<<<<<<<<<<<<<3"))}, false,
			[]string{"optional_data"}, nil},
		{"personal number set, 43 '<'", []string{td3[0], withComposite(set(row2, 43, "<"))}, false,
			[]string{"optional_data"}, nil},
		{"bad number digit", []string{td3[0], set(row2, 10, "5")}, false, []string{"number", "composite"}, nil},
		{"bad composite", []string{td3[0], set(row2, 44, "9")}, false, []string{"composite"}, nil},
		{"Germany D<<", []string{"P<D<<MUSTERMANN<<ERIKA<<<<<<<<<<<<<<<<<<<<<<",
			withComposite("C01X00T478D<<6408125F2702283<<<<<<<<<<<<<<<4")}, true, nil,
			func(t *testing.T, d *Document) {
				if d.Issuer != "D" || d.Nationality != "D" || d.PrimaryName != "MUSTERMANN" || d.SecondaryName != "ERIKA" {
					t.Errorf("got issuer %q nationality %q name %q/%q", d.Issuer, d.Nationality, d.PrimaryName, d.SecondaryName)
				}
				if d.Number != "C01X00T47" || d.ExpiryDate != "2027-02-28" || *d.Expired {
					t.Errorf("number %q expiry %q expired %v", d.Number, d.ExpiryDate, *d.Expired)
				}
			}},
		{"truncated name", []string{"P<UTOVANDERBERGHE<<JEAN<PHILIPPE<MARIE<ANTOI", row2}, true, nil,
			func(t *testing.T, d *Document) {
				if !d.NameTruncated || d.PrimaryName != "VANDERBERGHE" || d.SecondaryName != "JEAN PHILIPPE MARIE ANTOI" {
					t.Errorf("name %q/%q truncated %v", d.PrimaryName, d.SecondaryName, d.NameTruncated)
				}
			}},
		{"one name, multi-part primary", []string{"P<UTOVAN<DER<MEER<<<<<<<<<<<<<<<<<<<<<<<<<<<", row2}, true, nil,
			func(t *testing.T, d *Document) {
				if d.NameTruncated || d.PrimaryName != "VAN DER MEER" || d.SecondaryName != "" {
					t.Errorf("name %q/%q truncated %v", d.PrimaryName, d.SecondaryName, d.NameTruncated)
				}
			}},
		{"short number with filler", []string{td3[0], withComposite(set(row2, 1, "A1234<<<<"+digitOf("A1234<<<<")))}, true, nil,
			func(t *testing.T, d *Document) {
				if d.Number != "A1234" {
					t.Errorf("number %q", d.Number)
				}
			}},
		{"sex unspecified", []string{td3[0], withComposite(set(row2, 21, "<"))}, true, nil,
			func(t *testing.T, d *Document) {
				if d.Sex != "<" {
					t.Errorf("sex %q", d.Sex)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustParse(t, tc.rows, now)
			if d.Valid != tc.valid {
				t.Errorf("Valid = %v, checks %+v", d.Valid, d.Checks)
			}
			var failed []string
			for _, c := range d.Checks {
				if !c.OK {
					failed = append(failed, c.Field)
				}
			}
			if !slices.Equal(failed, tc.failed) {
				t.Errorf("failed checks %v, want %v", failed, tc.failed)
			}
			if q := d.Quality(); (q.Status == reading.OK) != tc.valid {
				t.Errorf("Quality %+v with Valid %v", q, d.Valid)
			}
			if !slices.Equal(d.Rows, tc.rows) {
				t.Errorf("Rows changed: %q", d.Rows)
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func digitOf(s string) string {
	d, _ := CheckDigit(s)
	return string(d)
}

// withComposite rewrites the last character of a TD3 row 2 to its correct
// composite check digit.
func withComposite(r string) string {
	return r[:43] + digitOf(r[0:10]+r[13:20]+r[21:43])
}

func TestBadDigitQuality(t *testing.T) {
	row2 := td3[1][:9] + "5" + td3[1][10:]
	d := mustParse(t, []string{td3[0], row2}, now)
	q := d.Quality()
	if q.Status != reading.Bad {
		t.Fatalf("Quality = %+v, want bad", q)
	}
	if !strings.Contains(q.Reason, "number") || !strings.Contains(q.Reason, "composite") {
		t.Errorf("reason %q does not name the failing fields", q.Reason)
	}
	if len(d.Candidates) != 0 {
		t.Errorf("candidates %+v", d.Candidates)
	}
	if d.Number != "L898902C3" || d.Checks[0] != (Check{"number", "5", "6", false}) {
		t.Errorf("number %q check %+v", d.Number, d.Checks[0])
	}
}

func TestParseLayoutErrors(t *testing.T) {
	for _, rows := range [][]string{
		nil,
		{td3[0]},
		{td3[0], td3[1][:43]},
		{td3[0], td3[1], td3[1]},
		{td1[0], td1[1]},
		{td1[0], td1[1], td1[2] + "<"},
		{td2[0], td3[1]},
	} {
		d, err := Parse(rows, now)
		if err == nil || d != nil {
			t.Errorf("Parse(%d rows) = %v, %v; want an error", len(rows), d, err)
			continue
		}
		for _, r := range rows {
			if len(r) > 0 && strings.Contains(err.Error(), r[:5]) {
				t.Errorf("error %q shows row content", err)
			}
		}
	}
}
