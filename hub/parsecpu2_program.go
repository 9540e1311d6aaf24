package hub

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/interpreter"
)

// program is env's program of a rule's expression, with its lists of
// constants (kind in ["a", "b"]) made once rather than at every run: each
// run otherwise built the list and converted it, two allocations, for
// every reading the expression sees.
func program(env *cel.Env, a *cel.Ast) (cel.Program, error) {
	return env.Program(a, cel.CustomDecorator(constantLists))
}

// constantLists replaces a list of constants by the list it always
// evaluates to: what cel-go's own OptOptimize does to lists
// (decorators.go, maybeBuildListLiteral), without its other changes (a
// constant conversion that fails refuses the program; "in" becomes a
// hashed look-up, which panics on a map or list on its left).
func constantLists(i interpreter.Interpretable) (interpreter.Interpretable, error) {
	c, ok := i.(interpreter.InterpretableConstructor)
	if !ok || c.Type() != types.ListType {
		return i, nil
	}
	for _, el := range c.InitVals() {
		if _, ok := el.(interpreter.InterpretableConst); !ok {
			return i, nil
		}
	}
	v := c.Eval(interpreter.EmptyActivation())
	if types.IsUnknownOrError(v) {
		return i, nil // left to fail where it always did
	}
	return interpreter.NewConstValue(c.ID(), v), nil
}
