package engine_test

import (
	"context"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const deviceWorkspace = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"notification": "qr"}},
   {"name": "pushweb", "verification_way": "web", "workflow": "push-login"},
   {"name": "pushphone", "verification_way": "mobile", "workflow": "push-phone", "mobile": {"notification": "push"}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "device_register", "display_name": "Register"},
     {"type": "verify_pan", "display_name": "PAN"}]},
   {"name": "push-login", "modules": [
     {"type": "web_to_device", "display_name": "Check your phone", "configs": {"device_application": "pushphone"}}]},
   {"name": "push-phone", "modules": [
     {"type": "device_verify", "display_name": "Registered phone"}]}]}`

type devFixture struct {
	eng   *engine.Engine
	db    *store.DB
	clock *clock
	apps  map[string]*tandem.AppRef
}

func setupDevices(t *testing.T) *devFixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(deviceWorkspace), &doc); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatalf("apply: %v", err)
	}
	c := newClock()
	db.Now = c.Now // one clock for the engine and the store
	f := &devFixture{db: db, clock: c, apps: map[string]*tandem.AppRef{}}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Inboxes: events.NewHub(), Now: c.Now, PublicURL: "https://verify.example"}
	for _, n := range []string{"web", "pushweb"} {
		ref, err := db.GetApplication(ctx, "acme", n)
		if err != nil {
			t.Fatal(err)
		}
		f.apps[n] = ref
	}
	return f
}

// handover creates a verification of app for user, opens it in a browser
// and returns its link token and a fresh pairing token.
func (f *devFixture) handover(t *testing.T, app, user string, allowNew bool) (string, string) {
	t.Helper()
	c, err := f.eng.Create(t.Context(), f.apps[app], engine.CreateRequest{UserID: user, AllowNewDevice: allowNew}, "")
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(t.Context(), token, "browser", "198.51.100.7", "Firefox"); err != nil {
		t.Fatal(err)
	}
	if app != "web" {
		return token, ""
	}
	p, err := f.eng.NewPairing(t.Context(), token, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	pt, ok := strings.CutPrefix(p.URL, "https://verify.example/d/")
	if !ok || len(pt) < 22 || !p.ExpiresAt.Equal(f.clock.Now().Add(120*time.Second)) {
		t.Fatalf("pairing = %+v; want a /d/ link with ≥128 bits valid 120 s", p)
	}
	return token, pt
}

type phone struct {
	key    *ecdsa.PrivateKey
	credID string
	chal   string
	vid    string
}

func newPhone(t *testing.T) *phone {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &phone{key: k}
}

func (p *phone) pair(t *testing.T, f *devFixture, pairing string) (*deviceproto.Session, error) {
	t.Helper()
	jws, err := deviceproto.SignPair(p.key, deviceproto.PairClaims{PairingToken: pairing, IssuedAt: f.clock.Now().Unix(), DeviceName: "Test phone", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.eng.Pair(t.Context(), jws, "192.0.2.50")
	if err == nil {
		p.remember(s)
	}
	return s, err
}

func (p *phone) remember(s *deviceproto.Session) {
	p.credID, p.chal, p.vid = s.CredID, s.Challenge, s.VerificationID
}

func (p *phone) sign(t *testing.T, f *devFixture, c deviceproto.RequestClaims) string {
	t.Helper()
	if c.CredID == "" {
		c.CredID = p.credID
	}
	if c.IssuedAt == 0 {
		c.IssuedAt = f.clock.Now().Unix()
	}
	jws, err := deviceproto.SignRequest(p.key, c)
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

func (p *phone) answer(t *testing.T, f *devFixture, step int, answer map[string]any) (*deviceproto.Session, error) {
	t.Helper()
	raw := map[string]json.RawMessage{}
	for k, v := range answer {
		raw[k], _ = json.Marshal(v)
	}
	jws := p.sign(t, f, deviceproto.RequestClaims{Challenge: p.chal, Action: deviceproto.ActionAnswer, VerificationID: p.vid, Step: &step, Answer: raw})
	s, err := f.eng.Answer(t.Context(), jws, "192.0.2.50")
	if err == nil {
		p.remember(s)
	}
	return s, err
}

func reason(err error) string { return tandem.ErrorReason(err) }

func TestHandoverRegistersNewDeviceAndCompletes(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	token, pt := f.handover(t, "web", "mark@gmail.com", true)
	ph := newPhone(t)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatalf("pair: %v", err)
	}
	if len(s.CredID) != 32 || s.Status != "in_progress" || s.Step == nil || s.Step.Type != "device_register" || s.Context.WebIP != "198.51.100.7" || s.Context.Application != "phone" {
		t.Fatalf("session after pairing = %+v", s)
	}
	if _, err := ph.pair(t, f, pt); reason(err) != "pairing_invalid" {
		t.Errorf("second use of the pairing token: %v, want pairing_invalid", err)
	}
	s, err = ph.answer(t, f, s.Step.Index, map[string]any{})
	if err != nil || s.Step == nil || s.Step.Type != "verify_pan" {
		t.Fatalf("after register: %+v, %v", s, err)
	}
	s, err = ph.answer(t, f, s.Step.Index, map[string]any{"pan_number": "ABCQE1234F"})
	if err != nil || s.Step == nil || s.Step.Error == "" {
		t.Fatalf("bad PAN: %+v, %v; want the same step with an error", s, err)
	}
	s, err = ph.answer(t, f, s.Step.Index, map[string]any{"pan_number": "abcpe1234f"})
	if err != nil || s.Status != "passed" {
		t.Fatalf("after PAN: %+v, %v", s, err)
	}
	v, err := f.eng.Lookup(ctx, token, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tandem.StatusCompleted {
		t.Fatalf("web verification: %s, want completed", v.Status)
	}
	res := engine.Result(v)
	for k, want := range map[string]string{"web_to_device": "true", "allow_new_device": "true", "web_2_device_cred_id": ph.credID, "web_ip": "198.51.100.7", "device_registered": "true", "pan_number": "ABCPE1234F", "pan_verified": "true"} {
		if res[k] != want {
			t.Errorf("claim %s = %q, want %q", k, res[k], want)
		}
	}
	dev, err := f.db.GetDevice(ctx, ph.credID)
	if err != nil || dev.State != tandem.DeviceActive || dev.UserID != "mark@gmail.com" {
		t.Errorf("device after the hand-over: %+v, %v; want active for mark", dev, err)
	}
	// A second new phone: device_register allows one device.
	_, pt2 := f.handover(t, "web", "mark@gmail.com", true)
	ph2 := newPhone(t)
	s, err = ph2.pair(t, f, pt2)
	if err != nil {
		t.Fatal(err)
	}
	s, err = ph2.answer(t, f, s.Step.Index, map[string]any{})
	if err != nil || s.Status != "failed" || !strings.Contains(s.Message, "already has 1 registered phone") {
		t.Errorf("second device over max_devices: %+v, %v", s, err)
	}
}

func TestRefusedDevices(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	token, pt := f.handover(t, "web", "mark@gmail.com", false)
	ph := newPhone(t)
	if _, err := ph.pair(t, f, pt); reason(err) != "device_not_registered" {
		t.Fatalf("unknown device with allow_new_device false: %v", err)
	}
	v, _ := f.eng.Lookup(ctx, token, "browser", "")
	if v.Steps[0].Status != tandem.StepRunning || !strings.Contains(v.Steps[0].Reason, "not registered") {
		t.Errorf("web step after a refused device: %s %q; want running with a note", v.Steps[0].Status, v.Steps[0].Reason)
	}

	// Expired pairing token.
	_, pt = f.handover(t, "web", "u2", true)
	f.clock.Add(121 * time.Second)
	if _, err := newPhone(t).pair(t, f, pt); reason(err) != "pairing_expired" {
		t.Errorf("expired pairing: %v, want pairing_expired", err)
	}

	// A stale issue time.
	_, pt = f.handover(t, "web", "u3", true)
	old := newPhone(t)
	jws, _ := deviceproto.SignPair(old.key, deviceproto.PairClaims{PairingToken: pt, IssuedAt: f.clock.Now().Add(-time.Hour).Unix()})
	if _, err := f.eng.Pair(ctx, jws, ""); reason(err) != "stale_request" {
		t.Errorf("stale iat: %v, want stale_request", err)
	}

	audit, err := f.db.ListAudit(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	refusals := 0
	for _, a := range audit {
		if a.Action == "refused.device" {
			refusals++
		}
	}
	if refusals < 2 {
		t.Errorf("%d device refusals audited without a verification, want at least 2", refusals)
	}
}

func TestSignedRequestRefusals(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	_, pt := f.handover(t, "web", "mark@gmail.com", true)
	ph := newPhone(t)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	step := s.Step.Index
	answer := func(c deviceproto.RequestClaims, key *ecdsa.PrivateKey) error {
		if key == nil {
			key = ph.key
		}
		if c.CredID == "" {
			c.CredID = ph.credID
		}
		if c.IssuedAt == 0 {
			c.IssuedAt = f.clock.Now().Unix()
		}
		jws, err := deviceproto.SignRequest(key, c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.eng.Answer(ctx, jws, "")
		return err
	}
	fresh := func() string {
		c, err := f.eng.Challenge(ctx, ph.credID, "")
		if err != nil {
			t.Fatal(err)
		}
		return c.Challenge
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wrongStep := step + 1

	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"otherKey", func() error {
			return answer(deviceproto.RequestClaims{Challenge: fresh(), Action: "answer", VerificationID: ph.vid, Step: &step}, other)
		}, "bad_signature"},
		{"unknownChallenge", func() error {
			return answer(deviceproto.RequestClaims{Challenge: "nope", Action: "answer", VerificationID: ph.vid, Step: &step}, nil)
		}, "challenge_invalid"},
		{"wrongStep", func() error {
			return answer(deviceproto.RequestClaims{Challenge: fresh(), Action: "answer", VerificationID: ph.vid, Step: &wrongStep}, nil)
		}, "wrong_step"},
		{"wrongVerification", func() error {
			return answer(deviceproto.RequestClaims{Challenge: fresh(), Action: "answer", VerificationID: "00000000-0000-4000-8000-000000000000", Step: &step}, nil)
		}, "wrong_verification"},
		{"unknownCredential", func() error {
			return answer(deviceproto.RequestClaims{CredID: strings.Repeat("0", 32), Challenge: fresh(), Action: "answer", VerificationID: ph.vid, Step: &step}, nil)
		}, "unknown_credential"},
		{"algNone", func() error {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"tandem-device+jws","kid":"` + ph.credID + `"}`))
			p := base64.RawURLEncoding.EncodeToString([]byte(`{"cred_id":"` + ph.credID + `","action":"answer"}`))
			_, err := f.eng.Answer(ctx, h+"."+p+".", "")
			return err
		}, "unsupported_algorithm"},
		{"hs256", func() error {
			signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, (&jose.SignerOptions{}).WithType(deviceproto.TypRequest).WithHeader("kid", ph.credID))
			obj, _ := signer.Sign([]byte(`{"cred_id":"` + ph.credID + `"}`))
			jws, _ := obj.CompactSerialize()
			_, err := f.eng.Answer(ctx, jws, "")
			return err
		}, "unsupported_algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reason(tt.do()); got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("replay", func(t *testing.T) {
		jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: ph.chal, Action: "answer", VerificationID: ph.vid, Step: &step, Answer: map[string]json.RawMessage{}})
		if _, err := f.eng.Answer(ctx, jws, ""); err != nil {
			t.Fatalf("first answer: %v", err)
		}
		if _, err := f.eng.Answer(ctx, jws, ""); reason(err) != "challenge_invalid" {
			t.Errorf("replayed answer: %v, want challenge_invalid", err)
		}
	})
}

func TestForeignCurveKeyRefused(t *testing.T) {
	f := setupDevices(t)
	_, pt := f.handover(t, "web", "u", true)
	k384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: k384}, (&jose.SignerOptions{EmbedJWK: true}).WithType(deviceproto.TypPair))
	payload, _ := json.Marshal(deviceproto.PairClaims{PairingToken: pt, IssuedAt: f.clock.Now().Unix()})
	obj, _ := signer.Sign(payload)
	jws, _ := obj.CompactSerialize()
	if _, err := f.eng.Pair(t.Context(), jws, ""); reason(err) != "unsupported_algorithm" {
		t.Errorf("P-384 / ES384 pairing: %v, want unsupported_algorithm", err)
	}
	_ = ecdh.P256
}

func TestPushInboxFirstDeviceWins(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	// Register two phones for mark through QR hand-overs.
	phones := []*phone{newPhone(t), newPhone(t)}
	for i, ph := range phones {
		_, pt := f.handover(t, "web", "mark", true)
		s, err := ph.pair(t, f, pt)
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// device_register allows one device; register the second
			// without the limit by revoking nothing: answer the PAN
			// step only after a clear. Simpler: activate it directly.
			dev, _ := f.db.GetDevice(ctx, ph.credID)
			dev.State = tandem.DeviceActive
			if err := f.db.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{dev}}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		s, _ = ph.answer(t, f, s.Step.Index, map[string]any{})
		if _, err := ph.answer(t, f, s.Step.Index, map[string]any{"pan_number": "ABCPE1234F"}); err != nil {
			t.Fatal(err)
		}
	}
	token, _ := f.handover(t, "pushweb", "mark", false)

	inbox := func(ph *phone) *deviceproto.InboxResponse {
		t.Helper()
		c, err := f.eng.Challenge(ctx, ph.credID, "")
		if err != nil {
			t.Fatal(err)
		}
		jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: c.Challenge, Action: deviceproto.ActionInbox})
		r, err := f.eng.Inbox(ctx, jws, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i, ph := range phones {
		r := inbox(ph)
		if len(r.Prompts) != 1 || r.Prompts[0].Context.Application != "pushphone" {
			t.Fatalf("phone %d inbox = %+v, want one prompt", i, r)
		}
		ph.vid, ph.chal = r.Prompts[0].VerificationID, r.Challenge
	}
	var wins, taken atomic.Int32
	var wg sync.WaitGroup
	for _, ph := range phones {
		jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: ph.chal, Action: deviceproto.ActionAccept, VerificationID: ph.vid})
		wg.Go(func() {
			_, err := f.eng.Accept(context.Background(), jws, "")
			switch reason(err) {
			case "":
				wins.Add(1)
			case "handover_taken", "verification_ended":
				// The loser sees the winner's phone, or, when the winner's
				// accept already ended the verification, that it ended.
				taken.Add(1)
			default:
				t.Errorf("accept: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || taken.Load() != 1 {
		t.Fatalf("accepts: %d won, %d taken; want 1 and 1", wins.Load(), taken.Load())
	}
	for i, ph := range phones {
		if r := inbox(ph); len(r.Prompts) != 0 {
			t.Errorf("phone %d inbox after the race: %+v, want withdrawn", i, r.Prompts)
		}
	}
	v, err := f.eng.Lookup(ctx, token, "browser", "")
	if err != nil || v.Status != tandem.StatusCompleted || engine.Result(v)["device_verified"] != "true" {
		t.Errorf("push verification: %v %v %v; want completed with device_verified true", v.Status, err, engine.Result(v))
	}
}

func TestDenyFailsTheVerification(t *testing.T) {
	f := setupDevices(t)
	token, pt := f.handover(t, "web", "mark@gmail.com", true)
	ph := newPhone(t)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	step := s.Step.Index
	jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: ph.chal, Action: deviceproto.ActionDeny, VerificationID: ph.vid, Step: &step})
	s, err = f.eng.Answer(t.Context(), jws, "192.0.2.50")
	if err != nil || s.Status != "failed" {
		t.Fatalf("deny: %+v %v", s, err)
	}
	v, _ := f.eng.Lookup(t.Context(), token, "browser", "")
	if v.Status != tandem.StatusFailed || engine.Result(v)["web_to_device"] != "false" {
		t.Errorf("after deny: %s %v", v.Status, engine.Result(v))
	}
	audit, _ := f.db.ListAudit(t.Context(), v.ID)
	denied := false
	for _, a := range audit {
		denied = denied || (a.Action == "denied" && strings.Contains(string(a.Detail), "198.51.100.7"))
	}
	if !denied {
		t.Error("the denial is not audited with the web side's address")
	}
}

func deviceprotoAccept(vid, chal string) deviceproto.RequestClaims {
	return deviceproto.RequestClaims{Challenge: chal, Action: deviceproto.ActionAccept, VerificationID: vid}
}

func deviceprotoDeny(vid, chal string, step int) deviceproto.RequestClaims {
	return deviceproto.RequestClaims{Challenge: chal, Action: deviceproto.ActionDeny, VerificationID: vid, Step: &step}
}

func TestHandoverTimesOut(t *testing.T) {
	f := setupDevices(t)
	token, _ := f.handover(t, "web", "mark@gmail.com", true)
	f.clock.Add(299 * time.Second)
	if v, _ := f.eng.Lookup(t.Context(), token, "browser", ""); v.Status != tandem.StatusInProgress {
		t.Fatalf("before timeout_s: %s", v.Status)
	}
	f.clock.Add(time.Second)
	v, err := f.eng.Lookup(t.Context(), token, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != tandem.StatusFailed || v.Reason != "No phone continued this verification in time." || engine.Result(v)["web_to_device"] != "false" {
		t.Errorf("after timeout_s: %s %q %v", v.Status, v.Reason, engine.Result(v))
	}
}
