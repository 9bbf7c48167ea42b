package authenticator_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/authenticator/authenticatortest"
	"github.com/tandem-id/tandem/deviceproto"
)

// TestClientRevoke: Revoke signs a revoke request with a fresh challenge
// (not the session's, which is bound to the verification), and afterwards
// the device's requests are refused.
func TestClientRevoke(t *testing.T) {
	fake := authenticatortest.New(t, phoneSteps()...)
	c := newClient(t)
	s, err := c.Pair(t.Context(), fake.QRURL(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Revoke(t.Context())
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if r.CredID != c.CredID || r.State != "revoked" || r.RevokedAt == 0 {
		t.Errorf("answer %+v", r)
	}
	_, err = c.Session(t.Context(), s.VerificationID)
	if code := authenticator.ProblemCode(err); code != "unknown_credential" {
		t.Errorf("session after revoke: %v, want unknown_credential (no challenge for a revoked device)", err)
	}
	want := []string{deviceproto.ActionRevoke}
	var got []string
	for _, req := range fake.Requests() {
		if req.Claims != nil && req.Path == authenticator.PathRevoke {
			got = append(got, req.Claims.Action)
			if req.Claims.VerificationID != "" || req.Claims.Challenge == s.Challenge {
				t.Errorf("revoke claims %+v: want no verification and not the session's challenge", req.Claims)
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("revoke requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"pair", "challenge", "revoke", "challenge unknown_credential"}, paths(fake.Requests())); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

// TestClientRevokeRefused: a device that is already revoked gets the
// server's problem.
func TestClientRevokeRefused(t *testing.T) {
	fake := authenticatortest.New(t)
	c := newClient(t)
	c.Server, c.CredID = fake.URL, fake.Register(&c.Key.PublicKey)
	if _, err := c.Revoke(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Revoke(t.Context()); authenticator.ProblemCode(err) != "unknown_credential" {
		t.Errorf("second revoke: %v, want unknown_credential", err)
	}
}
