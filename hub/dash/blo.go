package dash

import (
	"context"
	"crypto/subtle"
	"net/http"
)

// blo passes a logged-in request on to the hub's BLO network API (sharing
// with the sister BLO, incoming alerts and receipts). A POST changes what
// crosses the border, so it needs the CSRF token and a role that may act
// on alerts; the user goes on in the request context (UserFrom) so the
// audit log names who did it.
func (d *Dash) blo(w http.ResponseWriter, r *http.Request, s *session) {
	if r.Method == http.MethodPost {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-CSRF-Token")), []byte(s.csrf)) != 1 {
			http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
			return
		}
		if !canAct(s.user.Role) {
			http.Error(w, "your role may not share or acknowledge alerts", http.StatusForbidden)
			return
		}
		d.opt.Log.Info("blo action", "user", s.user.User, "path", r.URL.Path)
	}
	d.opt.BLO.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, s.user)))
}
