package hub

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/internal/contract"
)

func startCommandHub(t *testing.T) *Hub {
	t.Helper()
	cfg := &Config{Crossing: "kz-test", MQTT: "127.0.0.1:0", HTTP: "127.0.0.1:0", DataDir: t.TempDir()}
	for _, u := range []struct{ user, role string }{{"sup", dash.RoleSupervisor}, {"off", dash.RoleOfficer}} {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+u.user), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Users = append(cfg.Users, dash.User{User: u.user, Role: u.role, PasswordHash: string(h)})
	}
	for _, b := range []string{"booth-1", "booth-2"} {
		h, err := bcrypt.GenerateFromPassword([]byte("pw-"+b), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Boxes = append(cfg.Boxes, BoxCreds{Box: b, PasswordHash: string(h)})
	}
	return runHub(t, cfg, nil)
}

// fakeBox logs in as a box, and answers every command it gets with answer.
func fakeBox(t *testing.T, h *Hub, box string, answer func(contract.Command) []contract.Reply) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + h.MQTTAddr()).SetClientID("kordon-kz-test-" + box).
		SetUsername(box).SetPassword("pw-" + box).SetProtocolVersion(4).SetOrderMatters(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", box, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	tok := c.Subscribe(contract.Commands("kz-test", box), 1, func(c paho.Client, m paho.Message) {
		var cmd contract.Command
		if err := json.Unmarshal(m.Payload(), &cmd); err != nil {
			t.Errorf("command: %v", err)
			return
		}
		for _, r := range answer(cmd) {
			js, _ := json.Marshal(r)
			c.Publish(contract.Replies("kz-test", box), 1, false, js)
		}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return c
}

// client is a logged-in dashboard session: its cookie and CSRF token.
type client struct {
	http *http.Client
	csrf string
	base string
}

func login(t *testing.T, h *Hub, user string) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{http: &http.Client{Jar: jar}, base: "http://" + h.HTTPAddr()}
	resp, err := dash.PostLogin(c.http, c.base, user, "pw-"+user)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = c.http.Get(c.base + "/dash/api/me")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var me struct{ CSRF string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&me) != nil {
		t.Fatalf("log-in as %s failed: %s", user, resp.Status)
	}
	c.csrf = me.CSRF
	return c
}

// supervisors keeps one supervisor session per hub for post and get.
var supervisors sync.Map // *Hub -> *client

func supervisorOf(t *testing.T, h *Hub) *client {
	t.Helper()
	if c, ok := supervisors.Load(h); ok {
		return c.(*client)
	}
	c, _ := supervisors.LoadOrStore(h, login(t, h, "sup"))
	return c.(*client)
}

func post(t *testing.T, h *Hub, path, ctype, body string) (int, CommandRecord, string) {
	t.Helper()
	return supervisorOf(t, h).post(t, path, ctype, body)
}

func (c *client) post(t *testing.T, path, ctype, body string) (int, CommandRecord, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var rec CommandRecord
	json.Unmarshal(b, &rec)
	return resp.StatusCode, rec, string(b)
}

func get(t *testing.T, h *Hub, path string) (int, CommandRecord) {
	t.Helper()
	c := supervisorOf(t, h)
	resp, err := c.http.Get(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec CommandRecord
	json.NewDecoder(resp.Body).Decode(&rec)
	return resp.StatusCode, rec
}

// TestCommandsNeedAuthorisedUser: no session, an officer, or a missing CSRF
// token cannot command a box; a supervisor can, and is recorded as sender.
func TestCommandsNeedAuthorisedUser(t *testing.T) {
	h := startCommandHub(t)
	fakeBox(t, h, "booth-1", func(cmd contract.Command) []contract.Reply { return []contract.Reply{ok(cmd, nil)} })
	body := `{"name":"ping"}`
	resp, err := http.Post("http://"+h.HTTPAddr()+"/dash/api/boxes/booth-1/commands", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous POST: %s, want 401", resp.Status)
	}
	for _, old := range []string{"/dash/api/boxes/booth-1/commands"} {
		resp, err := http.Post("http://"+h.HTTPAddr()+old, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("public %s answered %s", old, resp.Status)
		}
	}
	if code, _, _ := login(t, h, "off").post(t, "/dash/api/boxes/booth-1/commands", "application/json", body); code != http.StatusForbidden {
		t.Errorf("officer POST: %d, want 403", code)
	}
	sup := login(t, h, "sup")
	nocsrf := *sup
	nocsrf.csrf = ""
	if code, _, _ := nocsrf.post(t, "/dash/api/boxes/booth-1/commands", "application/json", body); code != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %d, want 403", code)
	}
	code, rec, b := sup.post(t, "/dash/api/boxes/booth-1/commands?wait=10s", "application/json", body)
	if code != http.StatusOK || rec.Status != "ok" {
		t.Fatalf("supervisor POST: %d %s", code, b)
	}
	if rec.By != "sup" {
		t.Errorf("command recorded as sent by %q, want sup", rec.By)
	}
}

func ok(cmd contract.Command, result map[string]string) contract.Reply {
	return contract.Reply{Schema: contract.ReplyV1, ID: cmd.ID, Name: cmd.Name, OK: true, Result: result, Time: time.Now().UTC()}
}

// TestCommandRoundTrip: a command posted to the API reaches the box, its
// reply is stored, and the API returns it; a repeated reply keeps the first.
func TestCommandRoundTrip(t *testing.T) {
	h := startCommandHub(t)
	got := make(chan contract.Command, 1)
	fakeBox(t, h, "booth-1", func(cmd contract.Command) []contract.Reply {
		got <- cmd
		second := ok(cmd, map[string]string{"action": "second"})
		return []contract.Reply{ok(cmd, map[string]string{"device": "cctv1", "action": "activated"}), second}
	})
	code, rec, body := post(t, h, "/dash/api/boxes/booth-1/commands?wait=10s", "application/json",
		`{"name":"cctv-trigger","args":{"device":"cctv1"},"expires_in":"20s"}`)
	if code != http.StatusOK || rec.Status != "ok" || rec.Reply == nil || rec.Reply.Result["action"] != "activated" {
		t.Fatalf("POST = %d %s", code, body)
	}
	cmd := <-got
	if cmd.ID != rec.ID || cmd.Name != "cctv-trigger" || cmd.Args["device"] != "cctv1" || cmd.Schema != contract.CommandV1 {
		t.Errorf("box got %+v", cmd)
	}
	if d := cmd.Expires.Sub(rec.Sent); d != 20*time.Second {
		t.Errorf("expiry %v after sending, want 20s", d)
	}
	// The second reply was published after the first; a ping after both
	// tells when the hub has taken them.
	fakeBox(t, h, "booth-2", func(c contract.Command) []contract.Reply { return []contract.Reply{ok(c, nil)} })
	if code, _, body := post(t, h, "/dash/api/boxes/booth-2/commands?wait=10s", "application/json", `{"name":"ping"}`); code != http.StatusOK {
		t.Fatalf("ping booth-2: %d %s", code, body)
	}
	code, again := get(t, h, "/dash/api/commands/"+rec.ID)
	if code != http.StatusOK || again.Reply == nil || again.Reply.Result["action"] != "activated" || again.By != "sup" {
		t.Errorf("GET = %d %+v, want the first reply kept", code, again)
	}
}

// TestReplyFromAnotherBoxIgnored: booth-2 cannot answer booth-1's command.
func TestReplyFromAnotherBoxIgnored(t *testing.T) {
	h := startCommandHub(t)
	rec, err := h.SendCommand("booth-1", "ping", nil, time.Minute, "test")
	if err != nil {
		t.Fatal(err)
	}
	b2 := fakeBox(t, h, "booth-2", func(c contract.Command) []contract.Reply { return []contract.Reply{ok(c, nil)} })
	forged, _ := json.Marshal(ok(contract.Command{ID: rec.ID, Name: "ping"}, map[string]string{"forged": "yes"}))
	if tok := b2.Publish(contract.Replies("kz-test", "booth-2"), 1, false, forged); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	// The PUBACK comes after ingest: the forged reply has been handled.
	_, now := get(t, h, "/dash/api/commands/"+rec.ID)
	if now.Status != "pending" || now.Reply != nil {
		t.Errorf("command = %+v, want still pending", now)
	}
	if h.cmds.orphans.Load() != 1 {
		t.Errorf("orphan replies = %d, want 1", h.cmds.orphans.Load())
	}
}

// TestCommandExpiresWithoutReply: a box that never answers leaves the
// command expired, and a waiting GET returns when it expires.
func TestCommandExpiresWithoutReply(t *testing.T) {
	h := startCommandHub(t)
	code, rec, body := post(t, h, "/dash/api/boxes/booth-1/commands", "application/json", `{"name":"ping","expires_in":"1s"}`)
	if code != http.StatusAccepted || rec.Status != "pending" {
		t.Fatalf("POST = %d %s", code, body)
	}
	code, rec = get(t, h, "/dash/api/commands/"+rec.ID+"?wait=10s")
	if code != http.StatusOK || rec.Status != "expired" {
		t.Errorf("GET = %d %+v, want expired", code, rec)
	}
}

func TestCommandAPIRefusals(t *testing.T) {
	h := startCommandHub(t)
	for _, tc := range []struct {
		path, ctype, body string
		code              int
		want              string
	}{
		{"/dash/api/boxes/booth-9/commands", "application/json", `{"name":"ping"}`, 404, "unknown box"},
		{"/dash/api/boxes/booth-1/commands", "text/plain", `{"name":"ping"}`, 415, "application/json"},
		{"/dash/api/boxes/booth-1/commands", "application/x-www-form-urlencoded", `name=ping`, 415, "application/json"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":"format-disk"}`, 400, "unknown name"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":"ping","expires_in":"soon"}`, 400, "expires_in"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":"ping","expires_in":"2h"}`, 400, "between 1s and 1h"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":"ping","bogus":1}`, 400, "unknown field"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":"ping","args":{"Bad Key":"x"}}`, 400, "arg"},
		{"/dash/api/boxes/booth-1/commands?wait=1h", "application/json", `{"name":"ping"}`, 400, "wait"},
		{"/dash/api/boxes/booth-1/commands", "application/json", `{"name":` + strings.Repeat(" ", 20<<10) + `"ping"}`, 400, "body"},
	} {
		code, _, body := post(t, h, tc.path, tc.ctype, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d ...%s", tc.path, tc.body[:min(len(tc.body), 40)], code, body, tc.code, tc.want)
		}
	}
	if code, _ := get(t, h, "/dash/api/commands/cmd-nope"); code != 404 {
		t.Errorf("unknown id: %d", code)
	}
	var n int
	h.store.db.QueryRow(`SELECT count(*) FROM commands`).Scan(&n)
	if n != 0 {
		t.Errorf("%d commands stored from refused requests", n)
	}
}
