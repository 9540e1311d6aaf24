package dash

import (
	"context"
	"net/http"
)

// evidence passes a logged-in request on to the hub's evidence API with the
// caller in its context: the hub checks the role and logs every access.
func (d *Dash) evidence(w http.ResponseWriter, r *http.Request, s *session) {
	d.opt.Evidence.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, s.user)))
}
