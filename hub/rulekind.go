package hub

import (
	"slices"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
)

// requiredKind is the reading kinds an expression can hold for: nil (any
// kind) unless the expression is a conjunction with a term
// kind == "<literal>" or kind in [<literals>] at its top. For any other
// kind that term is false, and CEL's && is false when either side is
// false, even if the other side fails to evaluate: the expression is false
// and raises no error. The rules can therefore skip expressions of other
// kinds without evaluating them, and the default rules each name their
// kind so.
func requiredKind(a *cel.Ast) kindGate {
	return kindTerm(a.NativeRep().Expr())
}

func kindTerm(e celast.Expr) kindGate {
	if e.Kind() != celast.CallKind {
		return nil
	}
	c := e.AsCall()
	args := c.Args()
	switch c.FunctionName() {
	case operators.LogicalAnd:
		for _, arg := range args {
			if k := kindTerm(arg); k != nil {
				return k
			}
		}
	case operators.Equals:
		if len(args) != 2 {
			return nil
		}
		for i := range args {
			id, lit := args[i], args[1-i]
			if isKindIdent(id) {
				if s, ok := stringLiteral(lit); ok {
					return kindGate{s}
				}
			}
		}
	case operators.In:
		if len(args) != 2 || !isKindIdent(args[0]) || args[1].Kind() != celast.ListKind {
			return nil
		}
		list := args[1].AsList()
		if len(list.OptionalIndices()) > 0 || list.Size() == 0 {
			return nil
		}
		var kinds kindGate
		for _, el := range list.Elements() {
			s, ok := stringLiteral(el)
			if !ok {
				return nil
			}
			kinds = append(kinds, s)
		}
		return kinds
	}
	return nil
}

func isKindIdent(e celast.Expr) bool {
	return e.Kind() == celast.IdentKind && e.AsIdent() == "kind"
}

// stringLiteral is a non-empty string literal's value.
func stringLiteral(e celast.Expr) (string, bool) {
	if e.Kind() != celast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok && s != ""
}

// kindGate is the kinds a compiled expression can hold for; nil admits
// every kind.
type kindGate []string

// admits reports whether an expression gated so may hold for kind. One
// kind, the usual gate, is told by one comparison: match asks every
// rule's three gates of every reading.
func (g kindGate) admits(kind string) bool {
	switch len(g) {
	case 0:
		return g == nil
	case 1:
		return g[0] == kind
	}
	return slices.Contains(g, kind)
}

// only is the one kind the gate admits, or "" when it admits more.
func (g kindGate) only() string {
	if len(g) == 1 {
		return g[0]
	}
	return ""
}

// gatedProgram is the program of a for the readings its kind gate admits
// (requiredKind), nil when there is none to make. There the kind term is
// true, and "true && x" is x, so the term's conjunction is replaced by its
// other side (cel-go's constant folding prunes "true && x" the same way)
// and each run evaluates one comparison and one variable fewer. It is
// made only when what is left is itself a bool expression: x alone of
// type dyn could give a non-bool where the conjunction gives an error.
func gatedProgram(env *cel.Env, a *cel.Ast) cel.Program {
	if requiredKind(a) == nil {
		return nil
	}
	cut, iss := cel.NewStaticOptimizer(dropKindTerm{}).Optimize(env, a)
	if iss.Err() != nil || !cut.OutputType().IsExactType(cel.BoolType) {
		return nil
	}
	prg, err := program(env, cut)
	if err != nil {
		return nil
	}
	return prg
}

// dropKindTerm replaces the conjunction holding the kind term kindTerm
// finds (the same one, found in the same order) by its other side.
type dropKindTerm struct{}

func (dropKindTerm) Optimize(ctx *cel.OptimizerContext, a *celast.AST) *celast.AST {
	dropKind(ctx, a.Expr())
	return a
}

func dropKind(ctx *cel.OptimizerContext, e celast.Expr) {
	if e.Kind() != celast.CallKind || e.AsCall().FunctionName() != operators.LogicalAnd {
		return
	}
	args := e.AsCall().Args()
	if len(args) != 2 {
		return
	}
	for i, arg := range args {
		if kindTerm(arg) == nil {
			continue
		}
		if arg.Kind() == celast.CallKind && arg.AsCall().FunctionName() == operators.LogicalAnd {
			dropKind(ctx, arg)
		} else {
			ctx.UpdateExpr(e, args[1-i])
		}
		return
	}
}

// kindIndex is, for each kind a rule's gates name, the rules whose gates
// may admit it (in the rules' order), so that match goes through a
// reading's few rules rather than asking every rule's three gates.
type kindIndex struct {
	byKind map[string]kindRules
	other  []int // the rules an ungated expression may hold for any kind
}

// kindRules is the rules that may hold for a kind a gate names, and the
// kind as the CEL string the rules' "kind" is, boxed once rather than for
// every reading.
type kindRules struct {
	rules []int
	name  ref.Val
}

func newKindIndex(rules []*Rule) *kindIndex {
	x := &kindIndex{byKind: map[string]kindRules{}}
	admits := func(r *Rule, kind string) bool {
		return r.whenKind.admits(kind) || r.clearKind.admits(kind) || r.withKind.admits(kind)
	}
	for _, r := range rules {
		for _, g := range []kindGate{r.whenKind, r.clearKind, r.withKind} {
			for _, k := range g {
				x.byKind[k] = kindRules{name: types.String(k)}
			}
		}
	}
	for i, r := range rules {
		for k, kr := range x.byKind {
			if admits(r, k) {
				kr.rules = append(kr.rules, i)
				x.byKind[k] = kr
			}
		}
		// A kind no gate names is admitted by an ungated expression
		// only; "" is such a kind (gates name kinds, never "").
		if admits(r, "") {
			x.other = append(x.other, i)
		}
	}
	return x
}

// of is the rules that may hold for a reading of kind.
func (x *kindIndex) of(kind string) []int {
	rules, _ := x.lookup(kind)
	return rules
}

// lookup is of, and kind as a CEL string when a gate names it (else nil).
func (x *kindIndex) lookup(kind string) ([]int, ref.Val) {
	if kr, ok := x.byKind[kind]; ok {
		return kr.rules, kr.name
	}
	return x.other, nil
}
