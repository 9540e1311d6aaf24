package centre_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/blo"
	"github.com/kordon/kordon/blo/blotest"
	"github.com/kordon/kordon/centre"
	"github.com/kordon/kordon/internal/contract"
)

func upAlert(t *testing.T, crossing, id, rule string, at time.Time, subjects ...blo.Subject) centre.Msg {
	a := blo.UpAlert{Alert: contract.Alert{Schema: contract.AlertV1, ID: blo.GlobalID(crossing, id), Crossing: crossing, Box: "lane-01", Device: "rpm1",
		Rule: rule, Severity: "critical", Summary: "Radiation portal alarm", Time: at, Raised: at, State: "open"}, Subjects: subjects}
	js, _ := json.Marshal(a)
	return centre.Msg{ID: crossing + ":alert:" + a.ID, Subject: blo.UpSubject(crossing, blo.KindAlert), Data: js}
}

// Two crossings raising an alert with the same local id (the hub's id
// hashes box, device, seq and rule only) stay two alerts at the centre and
// in the i2 export; the same message twice is one; a message claiming
// another crossing is refused.
func TestI2ExportOfTwoCrossingsHasNoCollisions(t *testing.T) {
	ctx := context.Background()
	db, err := centre.OpenDB(ctx, blotest.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	box := blo.Subject{Type: "container", Value: "MSCU1234565"}
	for _, x := range []string{"kordai", "akzhol"} {
		m := upAlert(t, x, "same-local-id", "rpm-alarm", now, box, blo.Subject{Type: "substance", Value: "cs-137"})
		if added, again, refused, err := db.Take(ctx, x, []centre.Msg{m, m}); err != nil || added != 1 || again != 1 || refused != 0 {
			t.Fatalf("%s: added %d again %d refused %d err %v", x, added, again, refused, err)
		}
	}
	forged := upAlert(t, "akzhol", "x", "rpm-alarm", now)
	if _, _, refused, err := db.Take(ctx, "kordai", []centre.Msg{forged}); err != nil || refused != 1 {
		t.Fatalf("a message of another crossing in kordai's feed: refused %d, err %v", refused, err)
	}
	var ents, links bytes.Buffer
	if err := db.I2Entities(ctx, &ents, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.I2Links(ctx, &links, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	er, _ := csv.NewReader(&ents).ReadAll()
	ids := map[string]string{}
	for _, r := range er[1:] {
		if _, dup := ids[r[0]]; dup {
			t.Fatalf("entity id %s twice", r[0])
		}
		ids[r[0]] = r[1]
	}
	for id, typ := range map[string]string{"kordai:same-local-id": "Alert", "akzhol:same-local-id": "Alert", "crossing:kordai": "Crossing",
		"device:akzhol:lane-01:rpm1": "Device", "subject:container:MSCU1234565": "Container", "subject:substance:cs-137": "Substance"} {
		if ids[id] != typ {
			t.Errorf("entity %s: %q, want %q (entities %v)", id, ids[id], typ, ids)
		}
	}
	lr, _ := csv.NewReader(&links).ReadAll()
	about := 0
	for _, r := range lr[1:] {
		if _, ok := ids[r[2]]; !ok {
			t.Errorf("link %s from an unknown entity %s", r[0], r[2])
		}
		if _, ok := ids[r[3]]; !ok {
			t.Errorf("link %s to an unknown entity %s", r[0], r[3])
		}
		if r[1] == "About" && r[3] == "subject:container:MSCU1234565" {
			about++
		}
	}
	if about != 2 {
		t.Errorf("the container links %d alerts, want 2 (one per crossing)", about)
	}

	// The weekly report of last week is made once, and kept.
	last := centre.WeekStart(now).AddDate(0, 0, -7).Add(36 * time.Hour)
	db.Take(ctx, "kordai", []centre.Msg{upAlert(t, "kordai", "last-week", "fever", last)})
	week, made, err := db.EnsureReport(ctx, now, t.TempDir())
	if err != nil || !made {
		t.Fatalf("report: made %v, %v", made, err)
	}
	if _, made, _ := db.EnsureReport(ctx, now, ""); made {
		t.Fatal("the report was made twice")
	}
	c, _ := db.Report(ctx, week, "csv")
	if !strings.Contains(string(c), "kordai,fever,critical,1,0") {
		t.Fatalf("report csv:\n%s", c)
	}
}

// Every page needs a log-in, and each role gets only its own pages: the
// analyst search, the i2 export and the reports; the supervisor the live
// page of every crossing; both the trends. The other role's page is 403.
func TestCentreDashboardNeedsLogInAndRole(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := rolesCentre(t, ctx)
	for _, p := range []string{"/api/crossings", "/export/i2/entities.csv"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without log-in: %d", p, resp.StatusCode)
		}
	}
	logIn := func(user, pw string) *http.Client {
		jar, _ := cookiejar.New(nil)
		cl := &http.Client{Jar: jar}
		resp, err := cl.PostForm(srv.URL+"/login", url.Values{"user": {user}, "password": {pw}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return cl
	}
	get := func(cl *http.Client, p string) (int, string) {
		resp, err := cl.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b)
	}
	analyst, duty := logIn("analyst", "pw"), logIn("duty", "dutypw")
	for who, pages := range map[string]map[string]string{
		"analyst": {"/?lang=en": "name=\"subject\"", "/trends": "<svg", "/search?q=Radiation": "kordai:a1",
			"/export/i2/entities.csv": "kordai:a1,Alert", "/export/i2/links.csv": "", "/reports": "<ul>"},
		"duty": {"/?lang=en": "kordai:a1", "/live?lang=ru": "Пункты пропуска", "/trends": "<svg", "/api/crossings": `"crossing":"kordai"`},
	} {
		cl := map[string]*http.Client{"analyst": analyst, "duty": duty}[who]
		for p, want := range pages {
			if code, b := get(cl, p); code != 200 || !strings.Contains(b, want) {
				t.Errorf("%s %s: %d, no %q", who, p, code, want)
			}
		}
	}
	for who, pages := range map[string][]string{
		"analyst": {"/live", "/api/crossings"},
		"duty":    {"/search?q=Radiation", "/export/i2/entities.csv", "/export/i2/links.csv", "/reports", "/reports/2026-11-23.csv"},
	} {
		cl := map[string]*http.Client{"analyst": analyst, "duty": duty}[who]
		for _, p := range pages {
			if code, b := get(cl, p); code != http.StatusForbidden || strings.Contains(b, "kordai:a1") {
				t.Errorf("%s %s: %d, want 403 and nothing of the page (%.80q)", who, p, code, b)
			}
		}
	}
}

// rolesCentre serves the centre's web pages over one stored alarm
// (kordai:a1) to an analyst (analyst/pw) and a supervisor (duty/dutypw).
func rolesCentre(t *testing.T, ctx context.Context) *httptest.Server {
	t.Helper()
	c, err := centre.New(ctx, centre.Config{NATS: []string{"nats://127.0.0.1:1"}, ReaderUser: "centre", ReaderPassword: "pw",
		Crossings: []string{"kordai"}, DSN: blotest.Postgres(t)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	c.DB().Take(ctx, "kordai", []centre.Msg{upAlert(t, "kordai", "a1", "rpm-alarm", time.Now())})
	web, err := centre.NewWeb(c, []centre.User{{User: "analyst", Role: centre.RoleAnalyst, PasswordHash: bcryptHash(t, "pw")},
		{User: "duty", Role: centre.RoleSupervisor, PasswordHash: bcryptHash(t, "dutypw")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	return srv
}
