package hub

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/kordon/kordon/hub/dash"
	"github.com/kordon/kordon/i18n"
	"github.com/kordon/kordon/internal/config"
)

// LoadConfig reads a hub config strictly and checks it whole: every mistake
// is reported at once, each naming file, line and field (config.Errors).
// hubd refuses to start on any of them.
func LoadConfig(path string) (*Config, error) {
	var c Config
	return c.check(config.Load(path, &c))
}

// ParseConfig is LoadConfig on bytes already read; path names them in errors.
func ParseConfig(path string, b []byte) (*Config, error) {
	var c Config
	return c.check(config.Parse(path, b, &c))
}

// roles a dashboard user may have (docs/screens.md).
var roles = []string{dash.RoleOfficer, dash.RoleSupervisor, dash.RoleTechnician}

func (c *Config) check(d *config.Doc) (*Config, error) {
	if d.Failed() {
		return nil, d.Err()
	}
	d.ID("crossing", c.Crossing)
	if c.MQTT == "" && c.TLS == nil {
		d.Errorf("mqtt", "missing: give mqtt (e.g. \":1883\") or a tls listener, or boxes cannot connect")
	}
	d.ListenAddr("mqtt", c.MQTT)
	d.ListenAddr("http", c.HTTP)
	d.Required("data_dir", c.DataDir, "where the database is kept, e.g. /var/lib/kordon")
	d.OneOf("log_level", c.LogLevel, "debug", "info", "warn", "error")
	var langs []string
	for _, l := range i18n.Languages() {
		langs = append(langs, l.Code)
	}
	d.OneOf("language", c.Language, langs...)
	c.checkRules(d)
	if t := c.TLS; t != nil {
		d.Required("tls.address", t.Address, "the listen address, e.g. \":8883\"")
		d.ListenAddr("tls.address", t.Address)
		for _, f := range []struct{ field, path, what string }{
			{"tls.ca", t.CA, "the crossing CA certificate (PEM)"},
			{"tls.cert", t.Cert, "the hub's certificate (PEM)"},
			{"tls.key", t.Key, "the hub's key (PEM)"},
		} {
			if d.Required(f.field, f.path, f.what) {
				d.Readable(f.field, f.path)
			}
		}
	}

	boxes := map[string]string{} // id -> where first written
	for i, b := range c.Boxes {
		at := fmt.Sprintf("boxes[%d]", i)
		if d.ID(at+".box", b.Box) {
			if prev, dup := boxes[b.Box]; dup {
				d.Errorf(at+".box", "box %q appears twice (also %s)", b.Box, prev)
			} else {
				boxes[b.Box] = fmt.Sprintf("line %d", d.Line(at+".box"))
			}
		}
		// With mutual TLS a box may have no password: its certificate is its identity.
		if b.PasswordHash == "" && c.TLS == nil {
			d.Errorf(at+".password_hash", "missing: box %q could never log in (make one with: hubd passwd, or set up tls)", b.Box)
		} else if b.PasswordHash != "" {
			checkHash(d, at+".password_hash", b.PasswordHash)
		}
	}
	observers := map[string]string{}
	for i, o := range c.Observers {
		at := fmt.Sprintf("observers[%d]", i)
		if d.Name(at+".user", o.User) {
			switch prev, dup := observers[o.User]; {
			case dup:
				d.Errorf(at+".user", "observer %q appears twice (also %s)", o.User, prev)
			case boxes[o.User] != "":
				d.Errorf(at+".user", "observer %q has the name of a box (%s); observers and boxes must differ", o.User, boxes[o.User])
			default:
				observers[o.User] = fmt.Sprintf("line %d", d.Line(at+".user"))
			}
		}
		if d.Required(at+".password_hash", o.PasswordHash, "make one with: hubd passwd") {
			checkHash(d, at+".password_hash", o.PasswordHash)
		}
	}
	users := map[string]string{}
	for i, u := range c.Users {
		at := fmt.Sprintf("users[%d]", i)
		if d.Name(at+".user", u.User) {
			if prev, dup := users[u.User]; dup {
				d.Errorf(at+".user", "user %q appears twice (also %s)", u.User, prev)
			} else {
				users[u.User] = fmt.Sprintf("line %d", d.Line(at+".user"))
			}
		}
		if d.Required(at+".role", u.Role, "officer, supervisor or technician") {
			d.OneOf(at+".role", u.Role, roles...)
		}
		if d.Required(at+".password_hash", u.PasswordHash, "make one with: hubd passwd") {
			checkHash(d, at+".password_hash", u.PasswordHash)
		}
	}

	l := c.Limits
	d.Range("limits.max_payload", int64(l.MaxPayload), 1<<10, 64<<20)
	d.Range("limits.max_inflight", int64(l.MaxInflight), 1, 65535)
	d.Range("limits.session_expiry", int64(l.SessionExpiry), 0, 7*24*3600)
	d.Range("limits.max_clients", l.MaxClients, 1, 1<<20)
	d.Range("limits.connect_rate", int64(l.ConnectRate), 1, 1<<20)
	d.Range("limits.connect_burst", int64(l.ConnectBurst), 1, 1<<20)

	w := c.Watchlist
	if w.File != "" || w.KeyFile != "" {
		if d.Required("watchlist.file", w.File, "the watchlist file") {
			d.Readable("watchlist.file", w.File)
		}
		if d.Required("watchlist.key_file", w.KeyFile, "the key the watchlist is hashed with (hubd watchlist key)") {
			d.Readable("watchlist.key_file", w.KeyFile)
		}
	}
	d.DurationRange("watchlist.poll", w.Poll, 100*time.Millisecond, 24*time.Hour)
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

// checkRules reads and compiles the rules file now, so a missing or broken
// one is reported with the rest rather than when the hub starts.
func (c *Config) checkRules(d *config.Doc) {
	if c.Rules == "" || !d.Readable("rules", c.Rules) {
		return
	}
	b, err := os.ReadFile(c.Rules)
	if err != nil {
		d.Errorf("rules", "%v", err)
		return
	}
	if _, err := compileRules(c.Rules, b); err != nil {
		d.Errorf("rules", "the rules file is refused: %v", err)
	}
}

// checkHash refuses anything bcrypt would not accept as a hash, so a
// plain password pasted into the file is caught here and not at log-in.
func checkHash(d *config.Doc, field, h string) {
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		d.Errorf(field, "is not a bcrypt hash (make one with: hubd passwd)")
	}
}
