package dash

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kordon/kordon/internal/contract"
)

// actStore is a Store whose Act knows three alerts: "open" (acts),
// "done" (already past the state) and nothing else (not found).
type actStore struct {
	Store
	acted []string
}

func (s *actStore) Act(_ context.Context, id, action string, u User, note string, _ time.Time) (LogEntry, error) {
	switch id {
	case "open1", "open2":
		s.acted = append(s.acted, id+" "+action+" "+u.User+" "+note)
		return LogEntry{AlertID: id, Action: action}, nil
	case "done":
		return LogEntry{}, ErrTransition
	}
	return LogEntry{}, ErrNotFound
}

func (s *actStore) LastSeq(context.Context) (int64, error) { return 0, nil }
func (s *actStore) Readings(context.Context, []contract.ReadingRef) ([]json.RawMessage, error) {
	return nil, nil
}

// TestActManyAcknowledgesEachAndSaysWhatBecameOfIt: a group is acknowledged
// alert by alert with one note and the caller's identity; one someone else
// acknowledged first is "unchanged", an unknown one "not_found"; a wrong
// token, a role that may not act, no ids, too many ids and a resolve
// without a note are refused.
func TestActManyAcknowledgesEachAndSaysWhatBecameOfIt(t *testing.T) {
	st := &actStore{}
	d, err := New(Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	officer := &session{user: User{User: "ivanov", Role: RoleOfficer}, csrf: "tok"}
	call := func(s *session, action, token, body string) (int, string) {
		r := httptest.NewRequest("POST", "/dash/api/alert-groups/"+action, strings.NewReader(body))
		r.SetPathValue("action", action)
		r.Header.Set("X-CSRF-Token", token)
		w := httptest.NewRecorder()
		d.actMany(w, r, s)
		return w.Code, w.Body.String()
	}
	code, body := call(officer, "ack", "tok", `{"ids":["open1","open2","done","gone"],"note":"same traveller"}`)
	if code != 200 {
		t.Fatalf("ack: %d %s", code, body)
	}
	var res struct{ Results map[string]string }
	json.Unmarshal([]byte(body), &res)
	want := map[string]string{"open1": "acknowledged", "open2": "acknowledged", "done": "unchanged", "gone": "not_found"}
	for id, w := range want {
		if res.Results[id] != w {
			t.Errorf("%s: %q, want %q (%s)", id, res.Results[id], w, body)
		}
	}
	if len(st.acted) != 2 || st.acted[0] != "open1 acknowledged ivanov same traveller" {
		t.Errorf("acted: %v", st.acted)
	}
	many := `{"ids":[` + strings.Repeat(`"x",`, maxBulk) + `"x"]}`
	for _, c := range []struct {
		s                   *session
		action, token, body string
		code                int
	}{
		{officer, "ack", "wrong", `{"ids":["open1"]}`, 403},
		{&session{user: User{User: "tech", Role: RoleTechnician}, csrf: "tok"}, "ack", "tok", `{"ids":["open1"]}`, 403},
		{officer, "ack", "tok", `{"ids":[]}`, 400},
		{officer, "ack", "tok", many, 400},
		{officer, "ack", "tok", `not json`, 400},
		{officer, "resolve", "tok", `{"ids":["open1"],"note":"  "}`, 400},
		{officer, "delete", "tok", `{"ids":["open1"]}`, 404},
	} {
		if code, body := call(c.s, c.action, c.token, c.body); code != c.code {
			t.Errorf("%s %s as %s: %d %s, want %d", c.action, c.body[:min(len(c.body), 40)], c.s.user.Role, code, body, c.code)
		}
	}
}
