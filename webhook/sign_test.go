package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem/webhook"
)

// The test vector of the Standard Webhooks specification, as published in
// its reference implementation's tests (standard-webhooks/standard-webhooks,
// libraries/go/webhook_test.go, TestWebhookSign).
const (
	specSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	specMsgID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	specTimestamp = 1614265330
	specPayload   = `{"test": 2432232314}`
	specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignSpecVector(t *testing.T) {
	got, err := webhook.Sign(specSecret, specMsgID, time.Unix(specTimestamp, 0), []byte(specPayload))
	if err != nil {
		t.Fatal(err)
	}
	if got != specSignature {
		t.Errorf("Sign = %s, want %s", got, specSignature)
	}
	// The prefix is optional, as in the reference implementation.
	got, err = webhook.Sign(strings.TrimPrefix(specSecret, "whsec_"), specMsgID, time.Unix(specTimestamp, 0), []byte(specPayload))
	if err != nil || got != specSignature {
		t.Errorf("Sign without the whsec_ prefix = %s, %v; want %s", got, err, specSignature)
	}
}

func TestVerify(t *testing.T) {
	ts := time.Unix(specTimestamp, 0)
	other := webhook.NewSecret()
	otherSig, err := webhook.Sign(other, specMsgID, ts, []byte(specPayload))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		secret  string
		id      string
		ts      time.Time
		body    string
		header  string
		wantErr error
	}{
		{"SpecVector", specSecret, specMsgID, ts, specPayload, specSignature, nil},
		{"AmongOthers", specSecret, specMsgID, ts, specPayload, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,x " + specSignature + " " + otherSig, nil},
		{"SecondSecret", other, specMsgID, ts, specPayload, specSignature + " " + otherSig, nil},
		{"TamperedBody", specSecret, specMsgID, ts, `{"test": 2432232315}`, specSignature, webhook.ErrSignature},
		{"OtherID", specSecret, "msg_other", ts, specPayload, specSignature, webhook.ErrSignature},
		{"OtherTimestamp", specSecret, specMsgID, ts.Add(time.Second), specPayload, specSignature, webhook.ErrSignature},
		{"OtherSecret", other, specMsgID, ts, specPayload, specSignature, webhook.ErrSignature},
		{"WrongVersion", specSecret, specMsgID, ts, specPayload, "v2," + strings.TrimPrefix(specSignature, "v1,"), webhook.ErrSignature},
		{"Empty", specSecret, specMsgID, ts, specPayload, "", webhook.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.id, tt.ts, []byte(tt.body), tt.header)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestMalformedSecret(t *testing.T) {
	for _, s := range []string{"", "whsec_", "whsec_not base64!"} {
		if _, err := webhook.Sign(s, "msg_1", time.Unix(1, 0), nil); err == nil {
			t.Errorf("Sign with secret %q succeeded", s)
		}
	}
	if _, err := webhook.SignAll(nil, "msg_1", time.Unix(1, 0), nil); err == nil {
		t.Error("SignAll with no secret succeeded")
	}
}

func TestSignAllSignsWithEverySecret(t *testing.T) {
	secrets := []string{webhook.NewSecret(), webhook.NewSecret()}
	ts := time.Unix(1700000000, 0)
	body := []byte(`{"type":"verification.finished"}`)
	header, err := webhook.SignAll(secrets, "msg_1", ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(header)); n != 2 {
		t.Errorf("header %q has %d signatures, want 2", header, n)
	}
	for i, s := range secrets {
		if err := webhook.Verify(s, "msg_1", ts, body, header); err != nil {
			t.Errorf("secret %d does not verify the header: %v", i, err)
		}
	}
}

func TestNewSecret(t *testing.T) {
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 32 {
		t.Errorf("secret %q: want whsec_ and the base64 of 32 bytes (%v)", a, err)
	}
}

func TestVerifyRequest(t *testing.T) {
	now := time.Unix(specTimestamp, 0)
	header := func(ts int64) http.Header {
		h := http.Header{}
		h.Set("webhook-id", specMsgID)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		sig, _ := webhook.Sign(specSecret, specMsgID, time.Unix(ts, 0), []byte(specPayload))
		h.Set("webhook-signature", sig)
		return h
	}
	if err := webhook.VerifyRequest(specSecret, header(specTimestamp), []byte(specPayload), now, 5*time.Minute); err != nil {
		t.Errorf("a fresh request: %v", err)
	}
	for name, h := range map[string]http.Header{
		"Old":          header(specTimestamp - 301),
		"Future":       header(specTimestamp + 301),
		"NoSignature":  func() http.Header { h := header(specTimestamp); h.Del("webhook-signature"); return h }(),
		"BadTimestamp": func() http.Header { h := header(specTimestamp); h.Set("webhook-timestamp", "soon"); return h }(),
	} {
		if err := webhook.VerifyRequest(specSecret, h, []byte(specPayload), now, 5*time.Minute); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestBox(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	box, err := webhook.NewBox(key)
	if err != nil {
		t.Fatal(err)
	}
	secret := webhook.NewSecret()
	sealed := box.Seal("acme", "web", secret)
	if strings.Contains(string(sealed), strings.TrimPrefix(secret, "whsec_")) {
		t.Fatal("the sealed secret contains the secret")
	}
	if got, err := box.Open("acme", "web", sealed); err != nil || got != secret {
		t.Errorf("Open = %q, %v; want the secret", got, err)
	}
	if _, err := box.Open("acme", "other", sealed); err == nil {
		t.Error("a secret sealed for one application opened for another")
	}
	other, _ := webhook.NewBox([]byte(strings.Repeat("x", 32)))
	if _, err := other.Open("acme", "web", sealed); err == nil {
		t.Error("a secret opened with another key")
	}
	var none *webhook.Box
	if _, err := none.Open("acme", "web", sealed); err == nil {
		t.Error("a sealed secret opened without a key")
	}
	// Secrets stored in clear (before the server had a key) still open.
	for _, b := range []*webhook.Box{box, none} {
		if got, err := b.Open("acme", "web", []byte(secret)); err != nil || got != secret {
			t.Errorf("Open of a secret in clear = %q, %v", got, err)
		}
	}
	if got := string(none.Seal("acme", "web", secret)); got != secret {
		t.Errorf("a nil box stores %q, want the secret in clear", got)
	}
	if _, err := webhook.NewBox([]byte("short")); err == nil {
		t.Error("NewBox accepted a short key")
	}
}
