// Package lint holds checks of the project's own rules that go vet does
// not make. PackageState finds package-level mutable state: one hub (or
// one station, or one test) in a process must not share counters, tables
// or caches with another through a package variable.
package lint

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
)

// Finding is a package-level variable that holds, or may hold, state.
type Finding struct {
	Pos  token.Position
	Name string
	Why  string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s: %s", f.Pos, f.Name, f.Why) }

// Constructors whose values do not change once made: a package variable
// initialised by one of them is a constant the compiler cannot express.
var immutable = map[string]bool{
	"errors.New": true, "fmt.Errorf": true,
	"regexp.MustCompile": true, "regexp.MustCompilePOSIX": true,
	"prometheus.NewDesc": true,
	"template.Must":      true,
}

// PackageState checks the non-test Go files in dir. A package variable is
// accepted when it is an error, a compiled pattern, a metric descriptor or
// an embedded file, or an unexported table (a composite literal, or a
// function literal's result) that nothing in the package changes: no
// assignment, ++/--, delete, clear or & of it outside its declaration.
// Everything else is a finding, except the names in allow (name -> why the
// package vouches it is never changed; the reason is the caller's record).
func PackageState(dir string, allow map[string]string) ([]Finding, error) {
	fset := token.NewFileSet()
	matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, m := range matches {
		if strings.HasSuffix(m, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, m, nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	vars := map[string]token.Pos{} // package variables -> declaration
	var out []Finding
	add := func(pos token.Pos, name, why string) {
		if _, ok := allow[name]; !ok {
			out = append(out, Finding{Pos: fset.Position(pos), Name: name, Why: why})
		}
	}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			embedded := hasEmbed(g.Doc)
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				embedded := embedded || hasEmbed(vs.Doc)
				for i, n := range vs.Names {
					if n.Name == "_" {
						continue
					}
					vars[n.Name] = n.Pos()
					var val ast.Expr
					if i < len(vs.Values) {
						val = vs.Values[i]
					} else if len(vs.Values) == 1 {
						val = vs.Values[0] // a, b = f()
					}
					if why := judge(n.Name, val, embedded); why != "" {
						add(n.Pos(), n.Name, why)
					}
				}
			}
		}
	}
	for _, f := range files {
		for _, m := range mutations(f, vars) {
			add(m.pos, m.name, "changed at "+fset.Position(m.pos).String())
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Pos.Filename != out[j].Pos.Filename {
			return out[i].Pos.Filename < out[j].Pos.Filename
		}
		return out[i].Pos.Offset < out[j].Pos.Offset
	})
	return out, nil
}

func hasEmbed(g *ast.CommentGroup) bool {
	if g == nil {
		return false
	}
	for _, c := range g.List {
		if strings.HasPrefix(c.Text, "//go:embed") {
			return true
		}
	}
	return false
}

// judge says why a declaration may hold state, or "" if it does not.
func judge(name string, val ast.Expr, embedded bool) string {
	if embedded {
		return ""
	}
	if val == nil {
		return "declared without a value: state set at run time"
	}
	switch v := val.(type) {
	case *ast.CallExpr:
		if fn := callee(v.Fun); immutable[fn] {
			return ""
		}
		if _, lit := v.Fun.(*ast.FuncLit); lit {
			return table(name)
		}
		return "initialised by " + callee(v.Fun) + "(): its value may hold state"
	case *ast.CompositeLit:
		return table(name)
	case *ast.UnaryExpr:
		if v.Op == token.AND {
			return "a pointer: what it points to can change"
		}
	case *ast.BasicLit:
		return "a variable where a constant would do"
	}
	return "its value may hold state"
}

func table(name string) string {
	if ast.IsExported(name) {
		return "an exported table: any importer can change it (a function returning it, or a copy, cannot be)"
	}
	return ""
}

func callee(e ast.Expr) string {
	switch f := e.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return callee(f.X) + "." + f.Sel.Name
	case *ast.IndexExpr: // a generic instantiation
		return callee(f.X)
	case *ast.FuncLit:
		return "func literal"
	}
	return "?"
}

type mutation struct {
	pos  token.Pos
	name string
}

// mutations finds where a package variable is changed or its address
// taken. A local of the same name shadows it; locals are told apart by
// their declaration (a rough scope: any identifier declared in the
// function with that name).
func mutations(f *ast.File, vars map[string]token.Pos) []mutation {
	var out []mutation
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		locals := declared(fn)
		root := func(e ast.Expr) (string, bool) {
			for {
				switch x := e.(type) {
				case *ast.Ident:
					_, pkg := vars[x.Name]
					return x.Name, pkg && !locals[x.Name]
				case *ast.IndexExpr:
					e = x.X
				case *ast.SelectorExpr:
					e = x.X
				case *ast.StarExpr:
					e = x.X
				case *ast.ParenExpr:
					e = x.X
				default:
					return "", false
				}
			}
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch s := n.(type) {
			case *ast.AssignStmt:
				if s.Tok == token.DEFINE {
					return true
				}
				for _, l := range s.Lhs {
					if name, ok := root(l); ok {
						out = append(out, mutation{l.Pos(), name})
					}
				}
			case *ast.IncDecStmt:
				if name, ok := root(s.X); ok {
					out = append(out, mutation{s.Pos(), name})
				}
			case *ast.RangeStmt:
				if s.Tok == token.ASSIGN {
					for _, e := range []ast.Expr{s.Key, s.Value} {
						if name, ok := root(e); e != nil && ok {
							out = append(out, mutation{e.Pos(), name})
						}
					}
				}
			case *ast.UnaryExpr:
				if name, ok := root(s.X); s.Op == token.AND && ok {
					out = append(out, mutation{s.Pos(), name})
				}
			case *ast.CallExpr:
				if id, ok := s.Fun.(*ast.Ident); ok && (id.Name == "delete" || id.Name == "clear") && len(s.Args) > 0 {
					if name, ok := root(s.Args[0]); ok {
						out = append(out, mutation{s.Pos(), name})
					}
				}
			}
			return true
		})
	}
	return out
}

// declared lists the names a function declares: parameters, results,
// receivers and its locals.
func declared(fn *ast.FuncDecl) map[string]bool {
	names := map[string]bool{}
	fields := func(l *ast.FieldList) {
		if l == nil {
			return
		}
		for _, f := range l.List {
			for _, n := range f.Names {
				names[n.Name] = true
			}
		}
	}
	fields(fn.Recv)
	fields(fn.Type.Params)
	fields(fn.Type.Results)
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch s := n.(type) {
		case *ast.AssignStmt:
			if s.Tok == token.DEFINE {
				for _, l := range s.Lhs {
					if id, ok := l.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.RangeStmt:
			if s.Tok == token.DEFINE {
				for _, e := range []ast.Expr{s.Key, s.Value} {
					if id, ok := e.(*ast.Ident); ok {
						names[id.Name] = true
					}
				}
			}
		case *ast.ValueSpec:
			for _, id := range s.Names {
				names[id.Name] = true
			}
		case *ast.FuncLit:
			fields(s.Type.Params)
			fields(s.Type.Results)
		}
		return true
	})
	return names
}
