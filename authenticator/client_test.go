package authenticator_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skip2/go-qrcode"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/authenticator/authenticatortest"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/module"
)

// phoneSteps is a phone workflow with one step of each kind of answer.
func phoneSteps() []authenticatortest.Step {
	return []authenticatortest.Step{
		{Type: "number_prompt", DisplayName: "Number Prompt", Nodes: []module.Node{
			{Kind: "text", Text: "Pick the number shown on the web page."},
			{Kind: "choice", Name: "number", Options: []string{"17", "42", "88"}},
		}, Check: func(a map[string]json.RawMessage) (bool, string) { return string(a["number"]) == `"42"`, "" }},
		{Type: "proximity", DisplayName: "Proximity", Nodes: []module.Node{
			{Kind: "location", Name: "location", Text: "Share this phone's location."},
		}},
		{Type: "verify_pan", DisplayName: "Verify PAN", Nodes: []module.Node{
			{Kind: "input", Name: "pan_number", Label: "PAN", Required: true},
		}, Check: func(a map[string]json.RawMessage) (bool, string) {
			if string(a["pan_number"]) != `"ABCPE1234F"` {
				return false, "Enter a PAN of the form AAAAA9999A."
			}
			return true, ""
		}},
		{Type: "device_register", DisplayName: "Register", Nodes: []module.Node{{Kind: "text", Text: "Register this phone."}}},
	}
}

func newClient(t *testing.T) *authenticator.Client {
	t.Helper()
	key, err := authenticator.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return &authenticator.Client{Key: key}
}

// paths lists the paths of requests, with the problem code of refused ones.
func paths(reqs []authenticatortest.Request) []string {
	var out []string
	for _, r := range reqs {
		p := strings.TrimPrefix(r.Path, "/device/v1/")
		if r.Code != "" {
			p += " " + r.Code
		}
		out = append(out, p)
	}
	return out
}

func TestClientPairAndAnswer(t *testing.T) {
	fake := authenticatortest.New(t, phoneSteps()...)
	c := newClient(t)
	ctx := t.Context()

	s, err := c.Pair(ctx, fake.QRURL(), "laptop", "cli")
	if err != nil {
		t.Fatal(err)
	}
	if c.Server != fake.URL || c.CredID == "" || c.CredID != s.CredID || len(c.CredID) != 32 {
		t.Fatalf("after Pair: server %q cred %q, session cred %q", c.Server, c.CredID, s.CredID)
	}
	if diff := cmp.Diff(fake.Context, s.Context); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
	if s.Step == nil || s.Step.Type != "number_prompt" {
		t.Fatalf("first step = %+v", s.Step)
	}
	vid := s.VerificationID

	s, err = c.Answer(ctx, vid, s.Step.Index, map[string]any{"number": "42"})
	if err != nil {
		t.Fatal(err)
	}
	loc := deviceproto.Location{Lat: 12.9716, Lon: 77.5946, AccuracyM: 8, AccuracyKind: "p68", ReadAt: 1700000000}
	if s, err = c.Answer(ctx, vid, s.Step.Index, map[string]any{"location": loc}); err != nil {
		t.Fatal(err)
	}
	// A wrong PAN gets the same step back with an error, then a right one
	// passes.
	pan := s.Step.Index
	if s, err = c.Answer(ctx, vid, pan, map[string]any{"pan_number": "nope"}); err != nil {
		t.Fatal(err)
	}
	if s.Step == nil || s.Step.Index != pan || s.Step.Error == "" {
		t.Fatalf("after a wrong PAN: step %+v", s.Step)
	}
	if s, err = c.Answer(ctx, vid, pan, map[string]any{"pan_number": "ABCPE1234F"}); err != nil {
		t.Fatal(err)
	}
	if s, err = c.Answer(ctx, vid, s.Step.Index, nil); err != nil {
		t.Fatal(err)
	}
	if s.Status != "passed" || s.Step != nil {
		t.Fatalf("final session: status %q step %+v", s.Status, s.Step)
	}

	// Every signed request used the challenge of the answer before: no
	// challenge was fetched.
	want := []string{"pair", "answer", "answer", "answer", "answer", "answer"}
	if diff := cmp.Diff(want, paths(fake.Requests())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	wantAnswers := []map[string]json.RawMessage{
		{"number": json.RawMessage(`"42"`)},
		{"location": json.RawMessage(`{"lat":12.9716,"lon":77.5946,"accuracy_m":8,"accuracy_kind":"p68","read_at":1700000000}`)},
		{"pan_number": json.RawMessage(`"nope"`)},
		{"pan_number": json.RawMessage(`"ABCPE1234F"`)},
		nil,
	}
	if diff := cmp.Diff(wantAnswers, fake.Answers()); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	pair := fake.Requests()[0].Pair
	if pair.DeviceName != "laptop" || pair.Platform != "cli" || pair.PairingToken != fake.Token {
		t.Errorf("pair claims = %+v", pair)
	}
}

func TestClientDeny(t *testing.T) {
	fake := authenticatortest.New(t, phoneSteps()...)
	c := newClient(t)
	s, err := c.Pair(t.Context(), fake.QRURL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	s, err = c.Deny(t.Context(), s.VerificationID, s.Step.Index)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "failed" || s.Message == "" {
		t.Errorf("after Deny: status %q message %q", s.Status, s.Message)
	}
	if got := fake.Requests()[1].Claims.Action; got != deviceproto.ActionDeny {
		t.Errorf("action = %q, want deny", got)
	}
}

func TestClientChallenge(t *testing.T) {
	t.Run("FetchesWhenItHasNone", func(t *testing.T) {
		fake := authenticatortest.New(t)
		c := newClient(t)
		c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
		for range 2 {
			r, err := c.Inbox(t.Context(), 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Prompts) != 0 {
				t.Fatalf("prompts = %+v", r.Prompts)
			}
		}
		// The first inbox read needs a challenge; the second uses the
		// first's.
		if diff := cmp.Diff([]string{"challenge", "inbox", "inbox"}, paths(fake.Requests())); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("RetriesOnceWhenTheKeptOneIsRefused", func(t *testing.T) {
		fake := authenticatortest.New(t, phoneSteps()...)
		c := newClient(t)
		s, err := c.Pair(t.Context(), fake.QRURL(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		fake.InvalidateChallenges()
		if _, err := c.Session(t.Context(), s.VerificationID); err != nil {
			t.Fatal(err)
		}
		want := []string{"pair", "session challenge_invalid", "challenge", "session"}
		if diff := cmp.Diff(want, paths(fake.Requests())); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("DoesNotUseAnExpiredOne", func(t *testing.T) {
		fake := authenticatortest.New(t, phoneSteps()...)
		c := newClient(t)
		s, err := c.Pair(t.Context(), fake.QRURL(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		// The client's clock is 4m55s ahead: the kept challenge has
		// (nearly) expired, so it fetches another.
		c.Now = func() time.Time { return time.Now().Add(authenticatortest.ChallengeTTL - 5*time.Second) }
		if _, err := c.Session(t.Context(), s.VerificationID); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"pair", "challenge", "session"}, paths(fake.Requests())); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("Explicit", func(t *testing.T) {
		fake := authenticatortest.New(t)
		c := newClient(t)
		c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
		r, err := c.Challenge(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if r.Challenge == "" || r.ChallengeExpiresAt <= time.Now().Unix() {
			t.Fatalf("challenge = %+v", r)
		}
		if _, err := c.Inbox(t.Context(), 0); err != nil {
			t.Fatal(err)
		}
		if got := fake.Requests()[1].Claims.Challenge; got != r.Challenge {
			t.Errorf("inbox signed challenge %q, want the fetched %q", got, r.Challenge)
		}
	})
}

func TestClientInboxAccept(t *testing.T) {
	fake := authenticatortest.New(t, phoneSteps()[3])
	c := newClient(t)
	c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
	go func() {
		time.Sleep(50 * time.Millisecond)
		fake.Push(c.CredID)
	}()
	r, err := c.Inbox(t.Context(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Prompts) != 1 || r.Prompts[0].VerificationID != fake.VerificationID {
		t.Fatalf("prompts = %+v", r.Prompts)
	}
	s, err := c.Accept(t.Context(), r.Prompts[0].VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = c.Answer(t.Context(), s.VerificationID, s.Step.Index, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if s.Status != "passed" {
		t.Errorf("status = %q", s.Status)
	}
	if diff := cmp.Diff([]string{"challenge", "inbox", "accept", "answer"}, paths(fake.Requests())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	// A second device accepting the same prompt is refused.
	other := newClient(t)
	other.Server, other.CredID = fake.URL, fake.Register(&other.Key.PublicKey)
	fake.Push(other.CredID)
	_, err = other.Accept(t.Context(), fake.VerificationID)
	if code := authenticator.ProblemCode(err); code != "handover_taken" {
		t.Errorf("second accept: %v, want handover_taken", err)
	}
}

func TestClientInboxWait(t *testing.T) {
	fake := authenticatortest.New(t)
	c := newClient(t)
	c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
	for _, wait := range []time.Duration{0, 400 * time.Millisecond} {
		if _, err := c.Inbox(t.Context(), wait); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, r := range fake.Requests() {
		if r.Path == authenticator.PathInbox {
			got = append(got, r.Query)
		}
	}
	// Whole seconds, rounded up: 0.4 s must not become 0s (no wait).
	if diff := cmp.Diff([]string{"wait=0s", "wait=1s"}, got); diff != "" {
		t.Errorf("inbox queries (-want +got):\n%s", diff)
	}
}

func TestClientProblems(t *testing.T) {
	t.Run("PairingTokenIsSingleUse", func(t *testing.T) {
		fake := authenticatortest.New(t, phoneSteps()...)
		if _, err := newClient(t).Pair(t.Context(), fake.QRURL(), "", ""); err != nil {
			t.Fatal(err)
		}
		_, err := newClient(t).Pair(t.Context(), fake.QRURL(), "", "")
		var p *authenticator.ProblemError
		if !errors.As(err, &p) {
			t.Fatalf("second pair: %v, want a *ProblemError", err)
		}
		want := &authenticator.ProblemError{Status: 404, Code: "pairing_invalid", Detail: "This code is not valid or was already used."}
		if diff := cmp.Diff(want, p); diff != "" {
			t.Errorf("problem (-want +got):\n%s", diff)
		}
		if !strings.Contains(err.Error(), "pairing_invalid (HTTP 404)") {
			t.Errorf("message = %q", err)
		}
	})
	t.Run("StaleClock", func(t *testing.T) {
		fake := authenticatortest.New(t, phoneSteps()...)
		c := newClient(t)
		c.Now = func() time.Time { return time.Now().Add(-deviceproto.MaxClockSkew - time.Minute) }
		_, err := c.Pair(t.Context(), fake.QRURL(), "", "")
		if code := authenticator.ProblemCode(err); code != "stale_request" {
			t.Errorf("pair with a slow clock: %v, want stale_request", err)
		}
	})
	t.Run("WrongStep", func(t *testing.T) {
		fake := authenticatortest.New(t, phoneSteps()...)
		c := newClient(t)
		s, err := c.Pair(t.Context(), fake.QRURL(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Answer(t.Context(), s.VerificationID, s.Step.Index+1, map[string]any{"number": "42"})
		var p *authenticator.ProblemError
		if !errors.As(err, &p) || p.Code != "wrong_step" || p.Status != http.StatusConflict {
			t.Errorf("answer to another step: %v, want wrong_step (409)", err)
		}
	})
	t.Run("NotAProblemDocument", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<h1>\nBad gateway</h1>"))
		}))
		defer srv.Close()
		_, err := newClient(t).Pair(t.Context(), srv.URL+"/d/abc", "", "")
		var p *authenticator.ProblemError
		if !errors.As(err, &p) {
			t.Fatalf("pair: %v, want a *ProblemError", err)
		}
		if diff := cmp.Diff(&authenticator.ProblemError{Status: 502, Detail: "Bad Gateway"}, p); diff != "" {
			t.Errorf("problem (-want +got):\n%s", diff)
		}
	})
	t.Run("RedirectsAreNotFollowed", func(t *testing.T) {
		var elsewhere atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
		defer other.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		_, err := newClient(t).Pair(t.Context(), srv.URL+"/d/abc", "", "")
		var p *authenticator.ProblemError
		if !errors.As(err, &p) || p.Status != http.StatusTemporaryRedirect || !strings.Contains(p.Detail, "not followed") {
			t.Errorf("pair: %v, want a refused redirect", err)
		}
		if n := elsewhere.Load(); n != 0 {
			t.Errorf("the other server got %d requests", n)
		}
	})
}

func TestClientStaysWithItsServer(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	fake := authenticatortest.New(t, phoneSteps()...)
	c := newClient(t)
	c.Server = fake.URL
	if _, err := c.Pair(t.Context(), other.URL+"/d/"+fake.Token, "", ""); err == nil || !strings.Contains(err.Error(), "this client talks to "+fake.URL) {
		t.Errorf("pair with another server's QR code: %v", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
	if len(fake.Requests()) != 0 {
		t.Errorf("the client's server got %v", paths(fake.Requests()))
	}
}

func TestClientParseQRURL(t *testing.T) {
	tests := []struct {
		in, base, token string
	}{
		{"https://tandem.example.com/d/tok_EN-123", "https://tandem.example.com", "tok_EN-123"},
		{" https://Tandem.Example.com:8443/id/d/abc\n", "https://tandem.example.com:8443/id", "abc"},
		{"http://127.0.0.1:8080/d/abc", "http://127.0.0.1:8080", "abc"},
	}
	for _, tt := range tests {
		base, token, err := authenticator.ParseQRURL(tt.in)
		if err != nil || base != tt.base || token != tt.token {
			t.Errorf("ParseQRURL(%q) = %q, %q, %v; want %q, %q", tt.in, base, token, err, tt.base, tt.token)
		}
	}
	for _, bad := range []string{
		"", "tandem.example.com/d/abc", "ftp://tandem.example.com/d/abc", "https:///d/abc",
		"https://tandem.example.com/d/", "https://tandem.example.com/x/abc", "https://tandem.example.com/d/a/b",
		"https://user@tandem.example.com/d/abc", "https://tandem.example.com/d/abc?x=1", "https://tandem.example.com/d/abc#f",
	} {
		if base, token, err := authenticator.ParseQRURL(bad); err == nil {
			t.Errorf("ParseQRURL(%q) = %q, %q; want an error", bad, base, token)
		}
	}
}

func TestDecodeQRPNG(t *testing.T) {
	const want = "https://tandem.example.com/d/3q2-7wEXAMPLEtokenXb8sK0cZ1vN4mQ9yR6tU5wA2e"
	img, err := qrcode.Encode(want, qrcode.Medium, 320)
	if err != nil {
		t.Fatal(err)
	}
	got, err := authenticator.DecodeQRPNG(bytes.NewReader(img))
	if err != nil || got != want {
		t.Errorf("DecodeQRPNG = %q, %v; want %q", got, err, want)
	}

	if _, err := authenticator.DecodeQRPNG(strings.NewReader("not a png")); err == nil || !strings.Contains(err.Error(), "not a PNG") {
		t.Errorf("DecodeQRPNG(text) = %v, want a not-a-PNG error", err)
	}
	blank := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range blank.Pix {
		blank.Pix[i] = 0xff
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, blank); err != nil {
		t.Fatal(err)
	}
	if _, err := authenticator.DecodeQRPNG(&buf); err == nil || !strings.Contains(err.Error(), "no QR code") {
		t.Errorf("DecodeQRPNG(blank) = %v, want no QR code", err)
	}
}

// A challenge that came with a session is bound to its verification: the
// client does not spend it on a request about something else (the server
// would refuse it as wrong_verification), it fetches a fresh one.
func TestClientBoundChallengeNotReused(t *testing.T) {
	fake := authenticatortest.New(t, phoneSteps()[3])
	c := newClient(t)
	c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
	fake.Push(c.CredID)
	s, err := c.Accept(t.Context(), fake.VerificationID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Challenge == "" {
		t.Fatal("the session carries no challenge")
	}
	if _, err := c.Inbox(t.Context(), 0); err != nil {
		t.Fatalf("inbox after a session: %v", err)
	}
	// The inbox's own challenge is unbound, so the answer about the
	// session's verification still goes through.
	if s, err = c.Answer(t.Context(), s.VerificationID, s.Step.Index, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if s.Status != "passed" {
		t.Errorf("status = %q", s.Status)
	}
	want := []string{"challenge", "accept", "challenge", "inbox", "answer"}
	if diff := cmp.Diff(want, paths(fake.Requests())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
