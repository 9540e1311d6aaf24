// Package i18n holds every string of Kordon's screens (the booth readout
// and the BLO dashboard) in one JSON file per language. A translator adds a
// language by copying en.json to <code>.json (kk, ky, tg, tk, uz, ...),
// translating the values and setting "_name" to the language's own name;
// nothing else changes. Keys missing from a language fall back to English.
//
// A device family's words (the kind's name, its fields, its rules'
// summaries, its booth view's phrases) are not here but in its folder,
// drivers/<family>/words/<code>.json (internal/family); they are merged into
// each language, and a key defined both here and by a family is an error.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/kordon/kordon/drivers"
)

//go:embed *.json i18n.js
var files embed.FS

// Fallback is the language used for keys a translation lacks.
const Fallback = "en"

// Language is one available translation.
type Language struct {
	Code string `json:"code"`
	Name string `json:"name"` // in the language itself
}

var (
	once     sync.Once
	catalogs map[string]map[string]string
	loadErr  error
)

func load() {
	catalogs = map[string]map[string]string{}
	entries, err := files.ReadDir(".")
	if err != nil {
		loadErr = err
		return
	}
	for _, e := range entries {
		code, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		b, _ := files.ReadFile(e.Name())
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			loadErr = fmt.Errorf("i18n/%s: %v", e.Name(), err)
			return
		}
		catalogs[code] = m
	}
	if catalogs[Fallback] == nil {
		loadErr = fmt.Errorf("i18n: %s.json missing", Fallback)
		return
	}
	fams, err := drivers.Families()
	if err != nil {
		loadErr = err
		return
	}
	shared := map[string]map[string]bool{}
	for code, m := range catalogs {
		shared[code] = map[string]bool{}
		for k := range m {
			shared[code][k] = true
		}
	}
	for _, f := range fams {
		for code, words := range f.Words {
			m, ok := catalogs[code]
			if !ok {
				loadErr = fmt.Errorf("drivers/%s/words/%s.json: no i18n/%s.json for the language", f.Name, code, code)
				return
			}
			for k, v := range words {
				if shared[code][k] {
					loadErr = fmt.Errorf("i18n/%s.json and drivers/%s/words/%s.json both define %q: a family's words live in its folder", code, f.Name, code, k)
					return
				}
				m[k] = v
			}
		}
	}
}

// Err reports a translation file that does not parse (tests check it).
func Err() error { once.Do(load); return loadErr }

// Languages lists the translations, English and Russian first.
func Languages() []Language {
	once.Do(load)
	var out []Language
	for code, m := range catalogs {
		out = append(out, Language{Code: code, Name: m["_name"]})
	}
	rank := func(c string) int {
		switch c {
		case "ru":
			return 0
		case "en":
			return 1
		}
		return 2
	}
	sort.Slice(out, func(i, j int) bool {
		if rank(out[i].Code) != rank(out[j].Code) {
			return rank(out[i].Code) < rank(out[j].Code)
		}
		return out[i].Code < out[j].Code
	})
	return out
}

// Catalog returns a language's strings with English filling the gaps; ok
// is false for a language there is no file for.
func Catalog(code string) (map[string]string, bool) {
	once.Do(load)
	m, ok := catalogs[code]
	if !ok {
		return nil, false
	}
	out := make(map[string]string, len(catalogs[Fallback]))
	for k, v := range catalogs[Fallback] {
		out[k] = v
	}
	for k, v := range m {
		if v != "" {
			out[k] = v
		}
	}
	return out, true
}

// Raw returns a language's own strings, without the fallback (for tests
// that check a translation is complete).
func Raw(code string) map[string]string {
	once.Do(load)
	return catalogs[code]
}

// Handler serves, relative to where it is mounted (with StripPrefix):
// languages.json, <code>.json and i18n.js (the page-side helper).
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := path.Clean("/" + r.URL.Path)[1:]
		w.Header().Set("Cache-Control", "no-cache")
		switch {
		case name == "i18n.js":
			b, _ := files.ReadFile("i18n.js")
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(b)
		case name == "languages.json":
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(Languages())
		case strings.HasSuffix(name, ".json"):
			m, ok := Catalog(strings.TrimSuffix(name, ".json"))
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			json.NewEncoder(w).Encode(m)
		default:
			http.NotFound(w, r)
		}
	})
}
