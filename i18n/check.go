package i18n

import (
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Usage is which keys the screens' sources use: keys written out
// (T("alert.ack"), data-i18n="nav.alerts") and families of keys the code
// builds from a prefix ("field." + name, "rule." + id + ".summary"), which
// count every key under the prefix as used.
type Usage struct {
	Keys     map[string][]string // key -> files using it
	Prefixes map[string][]string // prefix -> files building keys from it
	// Quoted are all the double-quoted strings of the sources: a key
	// written in a list (["health.device", ...].forEach(k => T(k))) is used.
	Quoted map[string]bool
}

var (
	literalKey = []*regexp.Regexp{
		regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"]+)"`),
		regexp.MustCompile(`\bT\("([a-z_][a-z0-9_.-]*[a-z0-9_])"`),
		regexp.MustCompile(`\bI18N\.t\("([a-z_][a-z0-9_.-]*[a-z0-9_])"`),
		regexp.MustCompile(`\bthis\.t\("([a-z_][a-z0-9_.-]*[a-z0-9_])"`),
		regexp.MustCompile(`\? "([a-z_]+\.[a-z_.]+)" : "([a-z_]+\.[a-z_.]+)"`),
	}
	// "kind." + k, `value.${k}`: a key family.
	prefixKey = regexp.MustCompile(`"([a-z_]+(?:\.[a-z0-9_]+)*\.)" \+`)
	// A ternary between two words inside T(...): T(up ? "avail.up" : "avail.down").
	choiceKey = regexp.MustCompile(`"([a-z_]+\.[a-z_.]+)"`)
	quoted    = regexp.MustCompile(`"([^"\\\n]{1,100})"`)
)

// ScanSources reads the screens' sources (HTML and JavaScript) under the
// given directories for key uses.
func ScanSources(fsys fs.FS, dirs ...string) (Usage, error) {
	u := Usage{Keys: map[string][]string{}, Prefixes: map[string][]string{}, Quoted: map[string]bool{}}
	for _, dir := range dirs {
		err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(p); ext != ".js" && ext != ".html" {
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			src := string(b)
			for _, re := range literalKey {
				for _, m := range re.FindAllStringSubmatch(src, -1) {
					for _, k := range m[1:] {
						u.Keys[k] = appendOnce(u.Keys[k], p)
					}
				}
			}
			for _, m := range quoted.FindAllStringSubmatch(src, -1) {
				u.Quoted[m[1]] = true
			}
			for _, m := range prefixKey.FindAllStringSubmatch(src, -1) {
				u.Prefixes[m[1]] = appendOnce(u.Prefixes[m[1]], p)
			}
			// T(cond ? "a.b" : "a.c") and T(x ? "alert.ack" : "alert.resolve")
			for _, line := range strings.Split(src, "\n") {
				if !strings.Contains(line, "T(") || !strings.Contains(line, "?") {
					continue
				}
				for _, m := range choiceKey.FindAllStringSubmatch(line, -1) {
					if strings.Count(m[1], ".") >= 1 && !strings.HasSuffix(m[1], ".") {
						u.Keys[m[1]] = appendOnce(u.Keys[m[1]], p)
					}
				}
			}
			return nil
		})
		if err != nil {
			return u, err
		}
	}
	return u, nil
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// Used reports whether a key is used, by name or by its family.
func (u Usage) Used(key string) bool {
	if _, ok := u.Keys[key]; ok || u.Quoted[key] {
		return true
	}
	for p := range u.Prefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// Report is what a translator needs to know about one language.
type Report struct {
	Lang string
	// Missing: keys English has that this language lacks or leaves empty
	// (the screens show English for them).
	Missing []string
	// Unknown: keys this language has that English does not (a typo, or a
	// key since removed): never shown.
	Unknown []string
	// Unused: keys no screen uses (English only: remove them, then from
	// every language).
	Unused []string
	// Undefined: keys the screens use that English lacks (English only).
	Undefined []string
}

// Check compares every language with English and English with the
// screens' sources.
func Check(u Usage) []Report {
	en := Raw(Fallback)
	var out []Report
	for _, l := range Languages() {
		m := Raw(l.Code)
		r := Report{Lang: l.Code}
		for k := range en {
			if m[k] == "" {
				r.Missing = append(r.Missing, k)
			}
		}
		for k := range m {
			if _, ok := en[k]; !ok {
				r.Unknown = append(r.Unknown, k)
			}
		}
		if l.Code == Fallback {
			for k := range en {
				if !strings.HasPrefix(k, "_") && !u.Used(k) {
					r.Unused = append(r.Unused, k)
				}
			}
			for k := range u.Keys {
				if _, ok := en[k]; !ok {
					r.Undefined = append(r.Undefined, k)
				}
			}
		}
		sort.Strings(r.Missing)
		sort.Strings(r.Unknown)
		sort.Strings(r.Unused)
		sort.Strings(r.Undefined)
		out = append(out, r)
	}
	return out
}

// SourceDirs are where the screens' sources are, from the repository root:
// the dashboard, the booth, this package's helper, and the family folders
// (their booth views).
func SourceDirs() []string { return []string{"hub/dash/web", "edge/booth/web", "i18n", "drivers"} }

// Complete lists the languages every release carries in full; a key
// missing from one of them fails the tests.
func Complete() []string { return []string{"en", "ru", "kk"} }
