package engine_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/push/webpush"
	"github.com/tandem-id/tandem/push/webpush/webpushtest"
)

// activePhone registers a new phone for user through a QR hand-over.
func activePhone(t *testing.T, f *devFixture, user string) *phone {
	t.Helper()
	ph := newPhone(t)
	_, pt := f.handover(t, "web", user, true)
	s, err := ph.pair(t, f, pt)
	if err != nil {
		t.Fatal(err)
	}
	if s, err = ph.answer(t, f, s.Step.Index, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	if s, err = ph.answer(t, f, s.Step.Index, map[string]any{"pan_number": "ABCPE1234F"}); err != nil || s.Status != "passed" {
		t.Fatalf("registration: %+v, %v", s, err)
	}
	return ph
}

// registerPush signs a push_register request with a fresh challenge.
func (p *phone) registerPush(t *testing.T, f *devFixture, reg *deviceproto.PushRegistration) (*deviceproto.ChallengeResponse, error) {
	t.Helper()
	c, err := f.eng.Challenge(t.Context(), p.credID, "")
	if err != nil {
		t.Fatal(err)
	}
	jws := p.sign(t, f, deviceproto.RequestClaims{Challenge: c.Challenge, Action: deviceproto.ActionPushRegister, Push: reg})
	return f.eng.RegisterPush(t.Context(), jws, "192.0.2.50")
}

func auditActions(t *testing.T, f *devFixture, vid string) []tandem.AuditEvent {
	t.Helper()
	evs, err := f.db.ListAudit(t.Context(), vid)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func findAudit(evs []tandem.AuditEvent, action string) *tandem.AuditEvent {
	for i := range evs {
		if evs[i].Action == action {
			return &evs[i]
		}
	}
	return nil
}

func TestRegisterPush(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	ph := activePhone(t, f, "mark")
	svc := webpushtest.New(t)
	token := svc.Token("")

	ch, err := ph.registerPush(t, f, &deviceproto.PushRegistration{Type: "webpush", Token: token})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if ch.Challenge == "" || ch.ChallengeExpiresAt <= f.clock.Now().Unix() {
		t.Errorf("answer %+v; want a fresh challenge", ch)
	}
	dev, err := f.db.GetDevice(ctx, ph.credID)
	if err != nil || dev.PushType != "webpush" || dev.PushToken != token {
		t.Fatalf("device after registering: %q %q, %v", dev.PushType, dev.PushToken, err)
	}
	ev := findAudit(auditActions(t, f, ""), "push.registered")
	if ev == nil || !strings.Contains(string(ev.Detail), ph.credID) || strings.Contains(string(ev.Detail), "p256dh") || ev.Workspace != "acme" {
		t.Errorf("push.registered audit: %+v; want one with the cred_id and without the token", ev)
	}

	// The challenge of the answer signs the next request.
	jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: ch.Challenge, Action: deviceproto.ActionPushRegister, Push: &deviceproto.PushRegistration{Type: "fcm", Token: "dXkZ3vR4:APA91bH"}})
	if _, err := f.eng.RegisterPush(ctx, jws, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.eng.RegisterPush(ctx, jws, ""); reason(err) != "challenge_invalid" {
		t.Errorf("replayed push_register: %v, want challenge_invalid", err)
	}
	if dev, _ = f.db.GetDevice(ctx, ph.credID); dev.PushType != "fcm" || dev.PushToken != "dXkZ3vR4:APA91bH" {
		t.Errorf("device after FCM: %q %q", dev.PushType, dev.PushToken)
	}

	// Refusals change nothing.
	for name, reg := range map[string]*deviceproto.PushRegistration{
		"no push claim": nil,
		"http endpoint": {Type: "webpush", Token: svc.Token("http://push.example.net/x")},
		"bad keys":      {Type: "webpush", Token: `{"endpoint":"https://push.example.net/x","keys":{"p256dh":"BAAA","auth":"AAAA"}}`},
		"unknown type":  {Type: "apns", Token: "x"},
	} {
		if _, err := ph.registerPush(t, f, reg); tandem.ErrorCode(err) != tandem.EINVALID || reason(err) != "bad_push" {
			t.Errorf("%s: %v, want EINVALID bad_push", name, err)
		}
	}
	if dev, _ = f.db.GetDevice(ctx, ph.credID); dev.PushType != "fcm" {
		t.Errorf("a refused registration changed the device: %q", dev.PushType)
	}
	refused := 0
	for _, ev := range auditActions(t, f, "") {
		if ev.Action == "refused.device" && strings.Contains(string(ev.Detail), "bad_push") {
			refused++
		}
	}
	if refused != 4 {
		t.Errorf("%d bad_push refusals audited, want 4", refused)
	}

	// The action must fit.
	c, _ := f.eng.Challenge(ctx, ph.credID, "")
	jws = ph.sign(t, f, deviceproto.RequestClaims{Challenge: c.Challenge, Action: deviceproto.ActionInbox, Push: &deviceproto.PushRegistration{}})
	if _, err := f.eng.RegisterPush(ctx, jws, ""); reason(err) != "wrong_action" {
		t.Errorf("inbox action at push_register: %v, want wrong_action", err)
	}

	// An empty type clears it.
	if _, err := ph.registerPush(t, f, &deviceproto.PushRegistration{}); err != nil {
		t.Fatal(err)
	}
	if dev, _ = f.db.GetDevice(ctx, ph.credID); dev.PushType != "" || dev.PushToken != "" {
		t.Errorf("device after clearing: %q %q", dev.PushType, dev.PushToken)
	}
	if findAudit(auditActions(t, f, ""), "push.cleared") == nil {
		t.Error("clearing is not audited")
	}

	// A revoked device cannot register.
	dev.State = tandem.DeviceRevoked
	if err := f.db.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{dev}}); err != nil {
		t.Fatal(err)
	}
	jws = ph.sign(t, f, deviceproto.RequestClaims{Challenge: "whatever", Action: deviceproto.ActionPushRegister, Push: &deviceproto.PushRegistration{}})
	if _, err := f.eng.RegisterPush(ctx, jws, ""); reason(err) != "device_revoked" {
		t.Errorf("revoked device: %v, want device_revoked", err)
	}
}

func TestWebPushReachesThePhoneAndGoneClearsIt(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	svc := webpushtest.New(t)
	svc.Now = f.clock.Now
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wp := &webpush.Provider{HTTP: svc.Client(), VAPID: webpush.VAPID{PrivateKey: key, Subject: "mailto:ops@verify.example"}, Now: f.clock.Now}
	f.eng.Push = wp

	ph := activePhone(t, f, "mark")
	token := svc.Token("")
	if _, err := ph.registerPush(t, f, &deviceproto.PushRegistration{Type: "webpush", Token: token}); err != nil {
		t.Fatal(err)
	}

	// A push-mode hand-over pushes to the phone: ids only.
	linkToken, _ := f.handover(t, "pushweb", "mark", false)
	v, err := f.eng.Lookup(ctx, linkToken, "browser", "")
	if err != nil {
		t.Fatal(err)
	}
	got := svc.Messages()
	if len(got) != 1 {
		t.Fatalf("%d pushes, want 1", len(got))
	}
	if got[0].DecryptErr != nil || got[0].VAPIDErr != nil {
		t.Fatalf("push: decrypt %v, vapid %v", got[0].DecryptErr, got[0].VAPIDErr)
	}
	var msg map[string]any
	if err := json.Unmarshal(got[0].Plaintext, &msg); err != nil || msg["verification_id"] != v.ID {
		t.Fatalf("payload %s; want the verification id %s", got[0].Plaintext, v.ID)
	}
	for k := range msg {
		if k != "verification_id" && k != "title" && k != "body" {
			t.Errorf("the payload carries %q", k)
		}
	}
	if got[0].Header.Get("Content-Encoding") != "aes128gcm" || got[0].Header.Get("Urgency") != "high" || got[0].Header.Get("TTL") != "60" {
		t.Errorf("headers %v", got[0].Header)
	}

	// The phone takes the prompt; the claims name its push channel.
	c, _ := f.eng.Challenge(ctx, ph.credID, "")
	if _, err := f.eng.Accept(ctx, ph.sign(t, f, deviceprotoAccept(v.ID, c.Challenge)), ""); err != nil {
		t.Fatal(err)
	}
	v, _ = f.eng.Lookup(ctx, linkToken, "browser", "")
	res := engine.Result(v)
	if v.Status != tandem.StatusCompleted || res["push_type"] != "webpush" || res["push_token"] != token || res["web_2_device_cred_id"] != ph.credID {
		t.Errorf("result %s: push_type %q push_token %q cred %q; want the accepting phone's", v.Status, res["push_type"], res["push_token"], res["web_2_device_cred_id"])
	}
	if findAudit(auditActions(t, f, v.ID), "push.subscription_revoked") != nil {
		t.Error("a delivered push revoked the subscription")
	}

	// The push service says the subscription is gone: it is cleared.
	svc.SetStatus(http.StatusGone)
	linkToken2, _ := f.handover(t, "pushweb", "mark", false)
	v2, _ := f.eng.Lookup(ctx, linkToken2, "browser", "")
	if n := len(svc.Messages()); n != 2 {
		t.Fatalf("%d pushes, want 2", n)
	}
	dev, err := f.db.GetDevice(ctx, ph.credID)
	if err != nil || dev.PushType != "" || dev.PushToken != "" || dev.State != tandem.DeviceActive {
		t.Fatalf("device after 410: type %q token %q state %s, %v; want an active device without push", dev.PushType, dev.PushToken, dev.State, err)
	}
	ev := findAudit(auditActions(t, f, v2.ID), "push.subscription_revoked")
	if ev == nil || ev.Actor != tandem.ActorSystem || !strings.Contains(string(ev.Detail), ph.credID) || !strings.Contains(string(ev.Detail), "410") || strings.Contains(string(ev.Detail), "sub-7d3f") {
		t.Errorf("revocation audit %+v; want one naming the device and the 410, without the endpoint", ev)
	}
	// The prompt still waits in the inbox: the phone can poll.
	c, _ = f.eng.Challenge(ctx, ph.credID, "")
	r, err := f.eng.Inbox(ctx, ph.sign(t, f, deviceproto.RequestClaims{Challenge: c.Challenge, Action: deviceproto.ActionInbox}), "", 0)
	if err != nil || len(r.Prompts) != 1 || r.Prompts[0].VerificationID != v2.ID {
		t.Errorf("inbox after a gone push: %+v, %v", r, err)
	}
}

func TestFailedPushOtherThanGoneKeepsTheSubscription(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	svc := webpushtest.New(t)
	svc.SetStatus(http.StatusInternalServerError)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.eng.Push = &webpush.Provider{HTTP: svc.Client(), VAPID: webpush.VAPID{PrivateKey: key, Subject: "mailto:ops@verify.example"}, Now: f.clock.Now}
	ph := activePhone(t, f, "mark")
	if _, err := ph.registerPush(t, f, &deviceproto.PushRegistration{Type: "webpush", Token: svc.Token("")}); err != nil {
		t.Fatal(err)
	}
	f.handover(t, "pushweb", "mark", false)
	if len(svc.Messages()) != 1 {
		t.Fatalf("%d pushes, want 1", len(svc.Messages()))
	}
	if dev, _ := f.db.GetDevice(ctx, ph.credID); dev.PushType != "webpush" {
		t.Errorf("a 500 from the push service cleared the subscription")
	}
}
