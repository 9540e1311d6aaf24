package hub

import (
	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// requiredKind is the reading kind an expression can hold for: "" unless
// the expression is a conjunction with a term kind == "<literal>" at its
// top. For any other kind that term is false, and CEL's && is false when
// either side is false, even if the other side fails to evaluate: the
// expression is false and raises no error. The rules can therefore skip
// expressions of other kinds without evaluating them, and the default
// rules each name their kind so.
func requiredKind(a *cel.Ast) string {
	return kindTerm(a.NativeRep().Expr())
}

func kindTerm(e celast.Expr) string {
	if e.Kind() != celast.CallKind {
		return ""
	}
	c := e.AsCall()
	args := c.Args()
	switch c.FunctionName() {
	case operators.LogicalAnd:
		for _, arg := range args {
			if k := kindTerm(arg); k != "" {
				return k
			}
		}
	case operators.Equals:
		if len(args) != 2 {
			return ""
		}
		for i := range args {
			id, lit := args[i], args[1-i]
			if id.Kind() == celast.IdentKind && id.AsIdent() == "kind" && lit.Kind() == celast.LiteralKind {
				if s, ok := lit.AsLiteral().(types.String); ok && s != "" {
					return string(s)
				}
			}
		}
	}
	return ""
}

// kindGate is a compiled expression with the kind it requires.
type kindGate string

// admits reports whether an expression gated so may hold for kind.
func (g kindGate) admits(kind string) bool { return g == "" || string(g) == kind }
