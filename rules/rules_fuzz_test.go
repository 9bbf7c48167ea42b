package rules

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// FuzzCompile compiles arbitrary rule text and evaluates what compiles
// against fuzzed request data, with the engine's 100 ms budget. Neither may
// panic; a refusal is a *CompileError with a message (and no position past
// the rule), a rule over MaxRuleBytes never compiles, and an evaluation
// ends (cost limit, deadline) with a bool or an *EvalError well within a
// second.
func FuzzCompile(f *testing.F) {
	for _, s := range []struct{ rule, meta string }{
		{"request.metadata.kyc == 'full' && claims.aadhaar_verified == 'true'", `{"kyc":"full"}`},
		{"ip_in_any(web.ip, ['10.0.0.0/8', '192.168.0.0/16']) || ip_in(web.ip, request.metadata.cidr)", `{"cidr":"bogus"}`},
		{"request.metadata.tags.exists(t, t == 'vip') && size(request.user_id) < 64", `{"tags":["a","vip"]}`},
		{"has(request.metadata.address.country) && request.metadata.address.country in ['IN', 'US']", `{"address":{"country":"IN"}}`},
		{"now - timestamp('2025-01-01T00:00:00Z') > duration('1h') && device.registered", `{}`},
		{"[1,2,3].all(x, [1,2,3].all(y, [1,2,3].all(z, x + y + z > 0)))", `null`},
		{"request.metadata.n * 2.0 > 1e308", `{"n":1e308}`},
		{"request.user_id.matches('^(a+)+$')", `{}`},
		{"' OR 1=1 --", ``},
		{"{{.}}", ``},
		{"<script>alert(1)</script>", ``},
		{strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300), ``},
		{strings.Repeat("!", 5000) + "true", ``},
		{"request.metadata", `{"x":[[[[[[[[1]]]]]]]]}`},
		{"int(request.metadata.n) / 0 == 1", `{"n":1}`},
		{"request.metadata.s.size() > 0", `{"s":"\u0000"}`},
		{"\n\n  true &&\n  fals", ``},
	} {
		f.Add(s.rule, []byte(s.meta), "asha@acme.com", "192.168.1.20")
	}
	env := newEnv(f)
	f.Fuzz(func(t *testing.T, rule string, metadata []byte, userID, ip string) {
		p, err := env.Compile(rule)
		if err != nil {
			var ce *CompileError
			if !errors.As(err, &ce) || ce.Message == "" || err.Error() == "" {
				t.Fatalf("Compile(%q) = %v (%T), want a *CompileError with a message", rule, err, err)
			}
			if ce.Line < 0 || ce.Column < 0 || ce.Line > strings.Count(rule, "\n")+1 {
				t.Fatalf("Compile(%q): position %d:%d is outside the rule", rule, ce.Line, ce.Column)
			}
			return
		}
		if len(rule) > MaxRuleBytes {
			t.Fatalf("a rule of %d bytes compiled", len(rule))
		}
		if p.Source() != rule {
			t.Fatalf("Source() = %q, want %q", p.Source(), rule)
		}
		in := testInput()
		in.Request.UserID, in.Web.IP = userID, ip
		var meta map[string]any
		if json.Unmarshal(metadata, &meta) == nil {
			in.Request.Metadata = meta
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err = p.Eval(ctx, in)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Eval(%q) took %s despite its budget", rule, d)
		}
		if err != nil {
			var ee *EvalError
			if !errors.As(err, &ee) || ee.Message == "" {
				t.Fatalf("Eval(%q) = %v (%T), want an *EvalError with a message", rule, err, err)
			}
		}
	})
}
