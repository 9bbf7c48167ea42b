package rules

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func newEnv(t testing.TB) *Env {
	t.Helper()
	env, err := NewEnv()
	if err != nil {
		t.Fatalf("NewEnv: %v", err)
	}
	return env
}

func mustCompile(t testing.TB, env *Env, expr string) *Program {
	t.Helper()
	p, err := env.Compile(expr)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return p
}

func TestCompileErrors(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name       string
		expr       string
		wantLine   int
		wantColumn int
		wantMsg    string // substring of Message
	}{
		{"syntax_error", "request.user_id == ", 1, 20, "Syntax error"},
		{"syntax_error_second_line", "device.registered &&\n  (web.ip ==", 2, 13, "Syntax error"},
		{"unknown_variable", "foo == 1", 1, 1, "undeclared reference to 'foo'"},
		{"unknown_variable_later", "device.registered && bar", 1, 22, "undeclared reference to 'bar'"},
		{"unknown_field", "request.nope == 'x'", 1, 8, "undefined field 'nope'"},
		{"type_mismatch", "request.allow_new_device == 'yes'", 1, 26, "found no matching overload"},
		{"non_boolean_string", "request.user_id", 0, 0, "rule must evaluate to a boolean, not string"},
		{"non_boolean_int", "size(claims)", 0, 0, "rule must evaluate to a boolean, not int"},
		{"empty", "", 0, 0, "rule is empty"},
		{"blank", " \n\t", 0, 0, "rule is empty"},
		{"too_long", "true || " + strings.Repeat("true || ", MaxRuleBytes/8) + "true", 0, 0, "longer than the limit of 4096"},
		{"bad_cidr_literal", "ip_in(web.ip, '10.0.0.0/33')", 1, 15, `ip_in: invalid CIDR "10.0.0.0/33"`},
		{"bad_cidr_literal_not_cidr", "device.registered || ip_in(web.ip, 'nope')", 1, 36, `ip_in: invalid CIDR "nope"`},
		{"bad_cidr_in_list_literal", "ip_in_any(web.ip, ['10.0.0.0/8', '::1/200'])", 1, 34, `ip_in_any: invalid CIDR "::1/200"`},
		{"ip_in_wrong_arg_type", "ip_in(web.ip, 8)", 1, 6, "found no matching overload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := env.Compile(tt.expr)
			if err == nil {
				t.Fatalf("Compile(%q) = %v, want error", tt.expr, p.Source())
			}
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("Compile(%q) error %T %v, want *CompileError", tt.expr, err, err)
			}
			got := [2]int{ce.Line, ce.Column}
			want := [2]int{tt.wantLine, tt.wantColumn}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Compile(%q) line, column mismatch (-want +got):\n%s\nerror: %v", tt.expr, diff, err)
			}
			if !strings.Contains(ce.Message, tt.wantMsg) {
				t.Errorf("Compile(%q) message = %q, want it to contain %q", tt.expr, ce.Message, tt.wantMsg)
			}
		})
	}
}

func TestCompileErrorString(t *testing.T) {
	tests := []struct {
		name string
		err  *CompileError
		want string
	}{
		{"positioned", &CompileError{Line: 2, Column: 7, Message: "boom"}, "line 2, column 7: boom"},
		{"unpositioned", &CompileError{Message: "rule is empty"}, "rule is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompileAccepts(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		expr string
	}{
		{"metadata_compare", "request.metadata.kyc == 'full'"},
		{"ends_with", "request.user_id.endsWith('@acme.com')"},
		{"bool_field", "request.allow_new_device"},
		{"bool_field_and", "request.allow_new_device && true"},
		{"dyn_result", "request.metadata.vip"},
		{"nested_metadata", "request.metadata.address.country in ['IN', 'US']"},
		{"has_macro", "has(request.metadata.kyc)"},
		{"claims_index", "claims['aadhaar_verified'] == 'true'"},
		{"ip_in_dynamic_cidr", "ip_in(web.ip, request.metadata.cidr)"},
		{"ip_in_any_dynamic_list", "ip_in_any(web.ip, ['10.0.0.0/8', claims.office])"},
		{"timestamp", "now > timestamp('2020-01-01T00:00:00Z')"},
		{"exactly_max_length", "true" + strings.Repeat(" ", MaxRuleBytes-4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := env.Compile(tt.expr)
			if err != nil {
				t.Fatalf("Compile(%q): %v", tt.expr, err)
			}
			if got := p.Source(); got != tt.expr {
				t.Errorf("Source() = %q, want %q", got, tt.expr)
			}
		})
	}
}

// testInput is an Input as a verification would produce it, with metadata
// decoded from JSON.
func testInput() Input {
	return Input{
		Request: RequestVars{
			UserID:         "asha@acme.com",
			AllowNewDevice: true,
			Metadata: map[string]any{
				"kyc":     "full",
				"vip":     true,
				"age":     float64(34),
				"address": map[string]any{"country": "IN"},
				"tags":    []any{"a", "b"},
				"cidr":    "192.168.0.0/16",
				"nothing": nil,
			},
		},
		Claims: map[string]string{"aadhaar_verified": "true", "office": "2001:db8::/32"},
		Web:    WebVars{IP: "192.168.1.20", UserAgent: "Mozilla/5.0"},
		Device: DeviceVars{Platform: "android", Registered: true},
		Now:    time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
	}
}

func TestEval(t *testing.T) {
	env := newEnv(t)
	withWebIP := func(ip string) Input {
		in := testInput()
		in.Web.IP = ip
		return in
	}
	tests := []struct {
		name    string
		expr    string
		in      Input
		want    bool
		wantErr string // substring of the EvalError message; "" for success
	}{
		{"metadata_match", "request.metadata.kyc == 'full'", testInput(), true, ""},
		{"metadata_mismatch", "request.metadata.kyc == 'basic'", testInput(), false, ""},
		{"metadata_missing_key", "request.metadata.kyc == 'full'", Input{}, false, "no such key: kyc"},
		{"metadata_has_missing", "has(request.metadata.kyc)", Input{}, false, ""},
		{"metadata_bool", "request.metadata.vip", testInput(), true, ""},
		{"metadata_number", "request.metadata.age >= 18", testInput(), true, ""},
		{"metadata_nested_map", "request.metadata.address.country == 'IN'", testInput(), true, ""},
		{"metadata_list", "'b' in request.metadata.tags", testInput(), true, ""},
		{"metadata_null", "request.metadata.nothing == null", testInput(), true, ""},
		{"metadata_not_bool_result", "request.metadata.kyc", testInput(), false, "rule evaluated to string, not bool"},
		{"user_id_suffix", "request.user_id.endsWith('@acme.com')", testInput(), true, ""},
		{"allow_new_device", "request.allow_new_device && true", testInput(), true, ""},
		{"claims_lookup", "claims.aadhaar_verified == 'true'", testInput(), true, ""},
		{"claims_in", "'aadhaar_verified' in claims", testInput(), true, ""},
		{"claims_in_nil", "'aadhaar_verified' in claims", Input{}, false, ""},
		{"claims_missing", "claims.pan == 'x'", testInput(), false, "no such key: pan"},
		{"ip_in_v4", "ip_in(web.ip, '192.168.0.0/16')", testInput(), true, ""},
		{"ip_in_v4_outside", "ip_in(web.ip, '10.0.0.0/8')", testInput(), false, ""},
		{"ip_in_v4_unmasked_prefix", "ip_in(web.ip, '192.168.1.1/24')", testInput(), true, ""},
		{"ip_in_v6", "ip_in(web.ip, '2001:db8::/32')", withWebIP("2001:db8::1"), true, ""},
		{"ip_in_v6_outside", "ip_in(web.ip, '2001:db8::/32')", withWebIP("2001:db9::1"), false, ""},
		{"ip_in_v6_zone", "ip_in(web.ip, 'fe80::/10')", withWebIP("fe80::1%eth0"), true, ""},
		{"ip_in_mapped", "ip_in(web.ip, '192.168.0.0/16')", withWebIP("::ffff:192.168.1.20"), true, ""},
		{"ip_in_mapped_prefix", "ip_in(web.ip, '::ffff:192.168.0.0/112')", testInput(), true, ""},
		{"ip_in_v4_not_in_v6", "ip_in(web.ip, '::/0')", testInput(), false, ""},
		{"ip_in_unparsable_ip", "ip_in(web.ip, '0.0.0.0/0')", withWebIP("not-an-ip"), false, ""},
		{"ip_in_empty_ip", "ip_in(web.ip, '0.0.0.0/0')", withWebIP(""), false, ""},
		{"ip_in_dynamic_cidr", "ip_in(web.ip, request.metadata.cidr)", testInput(), true, ""},
		{"ip_in_bad_dynamic_cidr", "ip_in(web.ip, request.metadata.kyc)", testInput(), false, `ip_in: invalid CIDR "full"`},
		{"ip_in_any_match", "ip_in_any(web.ip, ['10.0.0.0/8', '192.168.0.0/16'])", testInput(), true, ""},
		{"ip_in_any_miss", "ip_in_any(web.ip, ['10.0.0.0/8', '172.16.0.0/12'])", testInput(), false, ""},
		{"ip_in_any_empty", "ip_in_any(web.ip, [])", testInput(), false, ""},
		{"ip_in_any_v6_from_claims", "ip_in_any(web.ip, ['10.0.0.0/8', claims.office])", withWebIP("2001:db8::5"), true, ""},
		{"ip_in_any_bad_dynamic_cidr", "ip_in_any(web.ip, ['192.168.0.0/16', claims.aadhaar_verified])", testInput(), false, `ip_in_any: invalid CIDR "true"`},
		{"now_after", "now > timestamp('2020-01-01T00:00:00Z')", testInput(), true, ""},
		{"now_before", "now < timestamp('2020-01-01T00:00:00Z')", testInput(), false, ""},
		{"now_defaults_to_current_time", "now > timestamp('2020-01-01T00:00:00Z')", Input{}, true, ""},
		{"device_registered", "device.registered", testInput(), true, ""},
		{"device_unregistered", "device.registered", Input{}, false, ""},
		{"device_platform", "device.platform in ['ios', 'android']", testInput(), true, ""},
		{"web_user_agent", "web.user_agent.contains('Mozilla')", testInput(), true, ""},
		{"typical_rule", "request.metadata.kyc == 'full' && (device.registered || request.allow_new_device) && ip_in_any(web.ip, ['10.0.0.0/8', '192.168.0.0/16'])", testInput(), true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, env, tt.expr)
			got, err := p.Eval(context.Background(), tt.in)
			if tt.wantErr != "" {
				var ee *EvalError
				if !errors.As(err, &ee) {
					t.Fatalf("Eval(%q) = %v, %v; want *EvalError containing %q", tt.expr, got, err, tt.wantErr)
				}
				if !strings.Contains(ee.Message, tt.wantErr) {
					t.Errorf("Eval(%q) error = %q, want it to contain %q", tt.expr, ee.Message, tt.wantErr)
				}
				if got {
					t.Errorf("Eval(%q) = true with an error", tt.expr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Eval(%q): %v", tt.expr, err)
			}
			if got != tt.want {
				t.Errorf("Eval(%q) = %v, want %v", tt.expr, got, tt.want)
			}
		})
	}
}

// intList is a CEL list literal of 0..n-1.
func intList(n int) string {
	elems := make([]string, n)
	for i := range elems {
		elems[i] = strconv.Itoa(i)
	}
	return "[" + strings.Join(elems, ",") + "]"
}

// expensiveRule iterates 100^3 times, far past the cost limit.
func expensiveRule() string {
	l := intList(100)
	return l + ".all(x, " + l + ".all(y, " + l + ".all(z, x + y + z >= 0)))"
}

func TestEvalCostLimit(t *testing.T) {
	env := newEnv(t)
	p := mustCompile(t, env, expensiveRule())
	got, err := p.Eval(context.Background(), testInput())
	var ee *EvalError
	if !errors.As(err, &ee) {
		t.Fatalf("Eval = %v, %v; want *EvalError", got, err)
	}
	if !strings.Contains(ee.Message, "cost") {
		t.Errorf("Eval error = %q, want it to mention cost", ee.Message)
	}
}

func TestEvalContext(t *testing.T) {
	env := newEnv(t)
	tests := []struct {
		name string
		expr string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{
			name: "cancelled_simple_rule",
			expr: "device.registered",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name: "cancelled_comprehension",
			expr: intList(50) + ".all(x, x >= 0)",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			// lateCancelCtx gets past Eval's up-front check, so the
			// cancellation is seen by CEL's interrupt check mid-evaluation.
			name: "cancelled_during_evaluation",
			expr: intList(50) + ".all(x, " + intList(50) + ".all(y, x + y >= 0))",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return &lateCancelCtx{Context: ctx}, cancel
			},
			want: context.Canceled,
		},
		{
			name: "deadline_exceeded",
			expr: "device.registered",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithDeadline(context.Background(), time.Unix(0, 0))
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, env, tt.expr)
			ctx, cancel := tt.ctx()
			defer cancel()
			got, err := p.Eval(ctx, testInput())
			var ee *EvalError
			if !errors.As(err, &ee) {
				t.Fatalf("Eval = %v, %v; want *EvalError", got, err)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Eval error %q does not match %v", err, tt.want)
			}
		})
	}
}

// lateCancelCtx wraps a done context but reports no error on the first call
// of Err.
type lateCancelCtx struct {
	context.Context
	errCalls atomic.Int32
}

func (c *lateCancelCtx) Err() error {
	if c.errCalls.Add(1) == 1 {
		return nil
	}
	return c.Context.Err()
}

func TestEvalConcurrent(t *testing.T) {
	env := newEnv(t)
	p := mustCompile(t, env, "request.metadata.kyc == 'full' && ip_in(web.ip, '192.168.0.0/16')")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := testInput()
			want := i%2 == 0
			if !want {
				in.Web.IP = "10.1.2.3"
			}
			for range 50 {
				got, err := p.Eval(context.Background(), in)
				if err != nil || got != want {
					errs <- errors.New("Eval = " + strconv.FormatBool(got) + ", want " + strconv.FormatBool(want))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func BenchmarkEval(b *testing.B) {
	env := newEnv(b)
	p := mustCompile(b, env, "request.metadata.kyc == 'full' && claims.aadhaar_verified == 'true' && (device.registered || request.allow_new_device) && ip_in_any(web.ip, ['10.0.0.0/8', '192.168.0.0/16'])")
	in := testInput()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		ok, err := p.Eval(ctx, in)
		if err != nil || !ok {
			b.Fatalf("Eval = %v, %v", ok, err)
		}
	}
}
