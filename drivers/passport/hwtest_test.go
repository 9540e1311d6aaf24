package passport

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHwtestDecodeSpecimens builds the real hwtest binary and decodes the
// ICAO specimens of all five formats through `hwtest decode -driver mrz`,
// the technician's path: standard input, line framing, JSON lines out,
// personal fields shown.
func TestHwtestDecodeSpecimens(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/hwtest")
	}
	bin := filepath.Join(t.TempDir(), "hwtest")
	build := exec.Command("go", "build", "-o", bin, "./cmd/hwtest")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/hwtest: %v\n%s", err, out)
	}
	specimens := [][]string{
		td1,
		{"I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"},
		td3,
		{"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"},
		{"V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"},
	}
	var in strings.Builder
	for _, s := range specimens {
		in.WriteString(strings.Join(s, "\r\n") + "\r\n")
	}
	cmd := exec.Command(bin, "decode", "-driver", "mrz", "-now", "2026-11-22T10:00:00Z")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hwtest decode: %v\n%s", err, stderr.String())
	}
	type payload struct {
		Format        string `json:"format"`
		DocumentCode  string `json:"document_code"`
		Issuer        string `json:"issuer"`
		Number        string `json:"number"`
		Nationality   string `json:"nationality"`
		BirthDate     string `json:"birth_date"`
		Sex           string `json:"sex"`
		ExpiryDate    string `json:"expiry_date"`
		PrimaryName   string `json:"primary_name"`
		SecondaryName string `json:"secondary_name"`
		OptionalData  string `json:"optional_data"`
		Valid         bool   `json:"valid"`
		Expired       bool   `json:"expired"`
		Minor         bool   `json:"minor"`
		Checks        []struct {
			OK bool `json:"ok"`
		} `json:"checks"`
	}
	var got []payload
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var env struct {
			Quality struct{ Status string }
			Payload payload
		}
		if err := json.Unmarshal(line, &env); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		if env.Quality.Status != "ok" {
			t.Errorf("quality %q: %s", env.Quality.Status, line)
		}
		got = append(got, env.Payload)
	}
	want := []struct {
		format, code, number, nat, birth, expiry, optional string
		checks                                             int
	}{
		{"TD1", "I", "D23145890", "UTO", "1974-08-12", "2012-04-15", "", 4},
		{"TD2", "I", "D23145890", "UTO", "1974-08-12", "2012-04-15", "", 4},
		{"TD3", "P", "L898902C3", "UTO", "1974-08-12", "2012-04-15", "ZE184226B", 5},
		{"MRV-A", "V", "L8988901C", "XXX", "1940-09-07", "1996-12-10", "6ZE184226B", 3},
		{"MRV-B", "V", "L8988901C", "XXX", "1940-09-07", "1996-12-10", "", 3},
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d documents, want %d:\n%s\nstderr: %s", len(got), len(want), out, stderr.String())
	}
	for i, w := range want {
		g := got[i]
		if g.Format != w.format || g.DocumentCode != w.code || g.Issuer != "UTO" || g.Number != w.number ||
			g.Nationality != w.nat || g.BirthDate != w.birth || g.Sex != "F" || g.ExpiryDate != w.expiry ||
			g.PrimaryName != "ERIKSSON" || g.SecondaryName != "ANNA MARIA" || g.OptionalData != w.optional ||
			!g.Valid || !g.Expired || g.Minor || len(g.Checks) != w.checks {
			t.Errorf("%s: got %+v", w.format, g)
		}
		for j, c := range g.Checks {
			if !c.OK {
				t.Errorf("%s: check %d failed", w.format, j)
			}
		}
	}
}
