package engine_test

import (
	"strings"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
)

// revoke signs a revoke request with a fresh unbound challenge.
func (p *phone) revoke(t *testing.T, f *devFixture, c deviceproto.RequestClaims) (*deviceproto.RevokeResponse, error) {
	t.Helper()
	ch, err := f.eng.Challenge(t.Context(), p.credID, "")
	if err != nil {
		t.Fatal(err)
	}
	c.Challenge = ch.Challenge
	if c.Action == "" {
		c.Action = deviceproto.ActionRevoke
	}
	return f.eng.Revoke(t.Context(), p.sign(t, f, c), "192.0.2.50")
}

func TestDeviceRevokesItself(t *testing.T) {
	f := setupDevices(t)
	ctx := t.Context()
	ph := activePhone(t, f, "mark")
	other := activePhone(t, f, "priya")
	if _, err := ph.registerPush(t, f, &deviceproto.PushRegistration{Type: "fcm", Token: "dXkZ3vR4:APA91bH"}); err != nil {
		t.Fatal(err)
	}

	// Refusals first: they change nothing.
	if _, err := ph.revoke(t, f, deviceproto.RequestClaims{Action: deviceproto.ActionInbox}); reason(err) != "wrong_action" {
		t.Errorf("revoke signed as inbox: %v, want wrong_action", err)
	}
	if _, err := ph.revoke(t, f, deviceproto.RequestClaims{VerificationID: ph.vid}); reason(err) != "bad_request" {
		t.Errorf("revoke with a verification_id: %v, want bad_request", err)
	}
	if dev, _ := f.db.GetDevice(ctx, ph.credID); dev.State != tandem.DeviceActive {
		t.Fatalf("a refused revoke changed the device: %s", dev.State)
	}

	// A challenge that is still unused, to show that the revoked device
	// can no longer sign anything.
	spare, err := f.eng.Challenge(ctx, ph.credID, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ph.revoke(t, f, deviceproto.RequestClaims{})
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if got.CredID != ph.credID || got.State != "revoked" || got.RevokedAt != f.clock.Now().Unix() {
		t.Errorf("answer %+v", got)
	}
	dev, err := f.db.GetDevice(ctx, ph.credID)
	if err != nil || dev.State != tandem.DeviceRevoked || dev.RevokedAt.IsZero() || dev.PushType != "" || dev.PushToken != "" {
		t.Fatalf("device after revoke: %+v, %v", dev, err)
	}
	if o, _ := f.db.GetDevice(ctx, other.credID); o.State != tandem.DeviceActive {
		t.Errorf("another device is %s, want it untouched", o.State)
	}
	ev := findAudit(auditActions(t, f, ""), "device.revoked")
	if ev == nil || ev.Actor != tandem.ActorDevice || ev.Workspace != "acme" || !strings.Contains(string(ev.Detail), ph.credID) {
		t.Errorf("device.revoked audit: %+v", ev)
	}

	// Afterwards: no challenge, and a signed request is refused.
	if _, err := f.eng.Challenge(ctx, ph.credID, ""); reason(err) != "unknown_credential" {
		t.Errorf("challenge after revoke: %v, want unknown_credential", err)
	}
	jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: spare.Challenge, Action: deviceproto.ActionInbox})
	if _, err := f.eng.Inbox(ctx, jws, "", 0); reason(err) != "device_revoked" {
		t.Errorf("inbox after revoke: %v, want device_revoked", err)
	}
	jws = ph.sign(t, f, deviceproto.RequestClaims{Challenge: spare.Challenge, Action: deviceproto.ActionRevoke})
	if _, err := f.eng.Revoke(ctx, jws, ""); reason(err) != "device_revoked" {
		t.Errorf("second revoke: %v, want device_revoked", err)
	}
}

// TestRevokeWithBoundChallenge: a challenge bound to a verification (from
// a session) does not sign a revoke.
func TestRevokeWithBoundChallenge(t *testing.T) {
	f := setupDevices(t)
	ph := newPhone(t)
	_, pt := f.handover(t, "web", "mark", true)
	if _, err := ph.pair(t, f, pt); err != nil {
		t.Fatal(err)
	}
	jws := ph.sign(t, f, deviceproto.RequestClaims{Challenge: ph.chal, Action: deviceproto.ActionRevoke})
	if _, err := f.eng.Revoke(t.Context(), jws, ""); reason(err) != "wrong_verification" {
		t.Errorf("revoke with a session's challenge: %v, want wrong_verification", err)
	}
}
