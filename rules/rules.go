// Package rules compiles and evaluates CEL rules for Tandem.
//
// A rule is a CEL expression of type bool over these variables:
//
//	request  tandem.Request: user_id string, allow_new_device bool,
//	         metadata map(string, dyn)
//	claims   map(string, string)
//	web      tandem.Web: ip string, user_agent string
//	device   tandem.Device: platform string, registered bool
//	now      timestamp
//
// Besides CEL's standard library, rules may call ip_in(ip, cidr) and
// ip_in_any(ip, cidrs); see NewEnv.
//
// Compile a rule once with Env.Compile and evaluate the resulting Program as
// often as needed; both Env and Program are safe for concurrent use.
package rules

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"
)

const (
	// MaxRuleBytes is the longest rule, in bytes, that Compile accepts.
	MaxRuleBytes = 4096

	// costLimit bounds the work of one evaluation, in CEL's abstract cost
	// units (roughly one per operation or iteration).
	costLimit = 100_000

	// interruptCheckFrequency is how many comprehension iterations pass
	// between checks of the evaluation context.
	interruptCheckFrequency = 100
)

// CEL type names of the object variables.
const (
	requestTypeName = "tandem.Request"
	webTypeName     = "tandem.Web"
	deviceTypeName  = "tandem.Device"
)

// Input is what a rule is evaluated against.
type Input struct {
	Request RequestVars
	Claims  map[string]string // claims; a nil map is empty
	Web     WebVars
	Device  DeviceVars
	Now     time.Time // the zero time means time.Now() at evaluation
}

// RequestVars is the CEL variable request. The cel tags name its fields in
// rules.
type RequestVars struct {
	UserID         string `cel:"user_id"`
	AllowNewDevice bool   `cel:"allow_new_device"`
	// Metadata holds JSON-decoded values: string, float64, bool, nil,
	// []any and map[string]any, nested freely. A nil map is empty.
	Metadata map[string]any `cel:"metadata"`
}

// WebVars is the CEL variable web. The cel tags name its fields in rules.
type WebVars struct {
	IP        string `cel:"ip"`
	UserAgent string `cel:"user_agent"`
}

// DeviceVars is the CEL variable device. The cel tags name its fields in
// rules.
type DeviceVars struct {
	Platform   string `cel:"platform"`
	Registered bool   `cel:"registered"`
}

// Env is the CEL environment of Tandem rules. Safe for concurrent use.
type Env struct {
	cel *cel.Env
}

// NewEnv returns the environment of Tandem rules: the variables of Input,
// CEL's standard library, and these functions:
//
//	ip_in(ip string, cidr string) bool
//	ip_in_any(ip string, cidrs list(string)) bool
//
// ip_in is true when ip is an IP address inside the CIDR prefix cidr, and
// ip_in_any when it is inside any of cidrs. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) match as IPv4 addresses. An ip that does not parse is in
// no prefix: the result is false, not an error. A malformed CIDR is an error:
// at compile time when it is a literal, at evaluation otherwise.
func NewEnv() (*Env, error) {
	env, err := cel.NewEnv(
		cel.Types(
			cel.NativeTypeFor[RequestVars](types.ParseStructTags(true), cel.NativeTypeAlias(requestTypeName)),
			cel.NativeTypeFor[WebVars](types.ParseStructTags(true), cel.NativeTypeAlias(webTypeName)),
			cel.NativeTypeFor[DeviceVars](types.ParseStructTags(true), cel.NativeTypeAlias(deviceTypeName)),
		),
		cel.Variable("request", cel.ObjectType(requestTypeName)),
		cel.Variable("claims", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("web", cel.ObjectType(webTypeName)),
		cel.Variable("device", cel.ObjectType(deviceTypeName)),
		cel.Variable("now", cel.TimestampType),
		// JSON numbers are doubles; let request.metadata.age >= 18 work.
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxRuleBytes),
		ipFunctions(),
		cel.ASTValidators(cidrLiteralValidator{}),
	)
	if err != nil {
		return nil, fmt.Errorf("rules: building CEL environment: %w", err)
	}
	return &Env{cel: env}, nil
}

// CompileError is a rule that does not compile or is not boolean.
//
// Line and Column are 1-based and locate the first issue in the rule; both
// are 0 when the issue has no position (an empty, overlong or non-boolean
// rule).
type CompileError struct {
	Line, Column int
	Message      string
}

// Error returns "line L, column C: message", or just the message when the
// error has no position.
func (e *CompileError) Error() string {
	if e.Line == 0 {
		return e.Message
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Message)
}

// EvalError is a rule that failed at evaluation: a runtime error such as a
// missing map key ("no such key: kyc"), the cost limit, a cancelled context,
// or a result that is not a bool.
type EvalError struct {
	Message string

	cause error // what failed, for errors.Is and errors.As; may be nil
}

func (e *EvalError) Error() string { return e.Message }

// Unwrap returns the underlying error, if any. For an evaluation stopped by
// its context it matches context.Canceled or context.DeadlineExceeded under
// errors.Is.
func (e *EvalError) Unwrap() error { return e.cause }

// Compile parses and type-checks expr. Its errors are *CompileError: a
// syntax or type error at the position of the first issue, an empty rule,
// a rule longer than MaxRuleBytes, a malformed CIDR literal, or a rule whose
// type is not bool. A rule of type dyn (e.g. request.metadata.flag) compiles
// and must yield a bool at evaluation.
func (e *Env) Compile(expr string) (*Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, &CompileError{Message: "rule is empty"}
	}
	if len(expr) > MaxRuleBytes {
		return nil, &CompileError{Message: fmt.Sprintf("rule is %d bytes, longer than the limit of %d", len(expr), MaxRuleBytes)}
	}
	ast, iss := e.cel.Compile(expr)
	if iss.Err() != nil {
		return nil, firstIssue(iss)
	}
	out := ast.OutputType()
	if !out.IsExactType(cel.BoolType) && !out.IsExactType(cel.DynType) {
		return nil, &CompileError{Message: fmt.Sprintf("rule must evaluate to a boolean, not %s", cel.FormatCELType(out))}
	}
	prg, err := e.cel.Program(ast,
		cel.CostLimit(costLimit),
		cel.InterruptCheckFrequency(interruptCheckFrequency),
	)
	if err != nil {
		// Planning a checked AST fails only on an environment defect.
		return nil, &CompileError{Message: err.Error()}
	}
	return &Program{src: expr, prg: prg}, nil
}

// firstIssue turns the issue earliest in the source into a CompileError.
func firstIssue(iss *cel.Issues) *CompileError {
	errs := slices.Clone(iss.Errors())
	if len(errs) == 0 { // cannot happen when iss.Err() != nil
		return &CompileError{Message: iss.String()}
	}
	slices.SortStableFunc(errs, func(a, b *cel.Error) int {
		if c := a.Location.Line() - b.Location.Line(); c != 0 {
			return c
		}
		return a.Location.Column() - b.Location.Column()
	})
	first := errs[0]
	ce := &CompileError{Message: first.Message}
	if line := first.Location.Line(); line > 0 {
		ce.Line = line
		ce.Column = first.Location.Column() + 1 // CEL's columns are 0-based
	}
	return ce
}

// Program is a compiled rule. Safe for concurrent use.
type Program struct {
	src string
	prg cel.Program
}

// Source returns the rule as given to Compile.
func (p *Program) Source() string { return p.src }

// Eval evaluates the rule against in. Its errors are *EvalError. Evaluation
// is bounded by a cost limit and stops, with an error, once ctx is done; an
// already-done ctx fails before any work.
func (p *Program) Eval(ctx context.Context, in Input) (bool, error) {
	if err := ctx.Err(); err != nil {
		cause := context.Cause(ctx)
		return false, &EvalError{Message: "evaluation cancelled: " + cause.Error(), cause: cause}
	}
	if in.Now.IsZero() {
		in.Now = time.Now()
	}
	out, _, err := p.prg.ContextEval(ctx, &activation{in: &in})
	if err != nil {
		return false, evalError(err)
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &EvalError{Message: fmt.Sprintf("rule evaluated to %s, not bool", typeName(out))}
	}
	return bool(b), nil
}

// evalError turns an error of cel.Program.ContextEval into an EvalError.
func evalError(err error) *EvalError {
	var cancelled interpreter.EvalCancelledError
	if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
		return &EvalError{Message: fmt.Sprintf("rule exceeded its cost limit of %d", costLimit), cause: err}
	}
	return &EvalError{Message: err.Error(), cause: err}
}

func typeName(v ref.Val) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().TypeName()
}

// activation resolves the rule variables from an Input without building a
// map per evaluation.
type activation struct {
	in *Input
}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "request":
		return &a.in.Request, true
	case "claims":
		return a.in.Claims, true
	case "web":
		return &a.in.Web, true
	case "device":
		return &a.in.Device, true
	case "now":
		return a.in.Now, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
