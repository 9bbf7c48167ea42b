package rules

import (
	"context"
	"testing"
	"time"
)

// BenchmarkCompile measures compiling a typical rule (parse, type-check,
// plan). The engine compiles each rule text once and caches the program;
// spec validation compiles every rule of a document at each apply.
func BenchmarkCompile(b *testing.B) {
	env := newEnv(b)
	const rule = "request.metadata.kyc == 'full' && claims.aadhaar_verified == 'true' && (device.registered || request.allow_new_device) && ip_in_any(web.ip, ['10.0.0.0/8', '192.168.0.0/16'])"
	for b.Loop() {
		if _, err := env.Compile(rule); err != nil {
			b.Fatal(err)
		}
	}
}

// benchEval evaluates rule against the test input in a loop.
func benchEval(b *testing.B, rule string) {
	env := newEnv(b)
	p := mustCompile(b, env, rule)
	in := testInput()
	ctx := context.Background()
	for b.Loop() {
		ok, err := p.Eval(ctx, in)
		if err != nil || !ok {
			b.Fatalf("Eval(%q) = %v, %v", rule, ok, err)
		}
	}
}

// BenchmarkEvalSeedRule is the demo's rule on verify_pan.
func BenchmarkEvalSeedRule(b *testing.B) { benchEval(b, "request.metadata.kyc == 'full'") }

// BenchmarkEvalExists is a membership check with the exists macro over a
// metadata list, and a presence test with has().
func BenchmarkEvalExists(b *testing.B) {
	benchEval(b, "request.metadata.tags.exists(t, t == 'b') && has(request.metadata.address.country)")
}

// BenchmarkEvalExistsMiss walks the whole list without a match.
func BenchmarkEvalExistsMiss(b *testing.B) {
	benchEval(b, "!request.metadata.tags.exists(t, t == 'z') && !('missing' in claims)")
}

// BenchmarkEvalEngineBudget evaluates as the engine does: with a 100 ms
// deadline context per evaluation.
func BenchmarkEvalEngineBudget(b *testing.B) {
	env := newEnv(b)
	p := mustCompile(b, env, "request.metadata.kyc == 'full' && claims.aadhaar_verified == 'true'")
	in := testInput()
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		ok, err := p.Eval(ctx, in)
		cancel()
		if err != nil || !ok {
			b.Fatalf("Eval = %v, %v", ok, err)
		}
	}
}
