// Package webhook delivers Tandem's webhooks as the Standard Webhooks
// specification (https://www.standardwebhooks.com) describes them: it signs
// messages (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256
// with a "whsec_" secret), guards deliveries against server-side request
// forgery, and runs the dispatcher that sends the durable outbox's items at
// least once, with back-off and a dead-letter state.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a Standard Webhooks request.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every webhook secret; the rest is base64 (standard
// alphabet, padded) of the key bytes.
const SecretPrefix = "whsec_"

// NewSecret returns a new webhook secret: SecretPrefix and the base64 of 32
// bytes from crypto/rand.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

// secretKey returns the key bytes of a secret: the base64 after the
// optional SecretPrefix. It refuses an empty or malformed secret.
func secretKey(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, SecretPrefix))
	if err != nil || len(key) == 0 {
		return nil, errors.New("webhook secret is not " + SecretPrefix + " followed by base64")
	}
	return key, nil
}

// signature returns the raw HMAC-SHA256 of "id.timestamp.body" under key.
func signature(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Sign returns the webhook-signature of one message under one secret:
// "v1," and the base64 of HMAC-SHA256(key, id + "." + Unix seconds of ts +
// "." + body), key being the base64-decoded part of secret after "whsec_".
// It returns an error only for a malformed secret.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := secretKey(secret)
	if err != nil {
		return "", err
	}
	return "v1," + base64.StdEncoding.EncodeToString(signature(key, id, ts.Unix(), body)), nil
}

// SignAll returns the webhook-signature of a message signed with each of
// secrets, separated by spaces, as the specification allows while a secret
// is being rotated. It refuses an empty list and malformed secrets.
func SignAll(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("no webhook secret to sign with")
	}
	sigs := make([]string, len(secrets))
	for i, s := range secrets {
		var err error
		if sigs[i], err = Sign(s, id, ts, body); err != nil {
			return "", err
		}
	}
	return strings.Join(sigs, " "), nil
}

// ErrSignature is returned by Verify when no signature matches.
var ErrSignature = errors.New("no webhook signature matches")

// Verify checks that one of the space-separated signatures of header (a
// webhook-signature value) is the v1 signature of the message under
// secret. Signatures of other versions are ignored. It returns ErrSignature
// when none matches, or an error for a malformed secret. Comparisons take
// constant time.
func Verify(secret, id string, ts time.Time, body []byte, header string) error {
	key, err := secretKey(secret)
	if err != nil {
		return err
	}
	want := signature(key, id, ts.Unix(), body)
	ok := false
	for sig := range strings.FieldsSeq(header) {
		version, b64, found := strings.Cut(sig, ",")
		if !found || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// VerifyRequest checks a received webhook as a receiver should: the three
// headers are present, the timestamp is within tolerance of now (in either
// direction, against replays), and a signature matches (see Verify).
func VerifyRequest(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, tsText, sig := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sig == "" {
		return fmt.Errorf("missing %s, %s or %s header", HeaderID, HeaderTimestamp, HeaderSignature)
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%s %q is not Unix seconds", HeaderTimestamp, tsText)
	}
	ts := time.Unix(sec, 0)
	if d := now.Sub(ts); d > tolerance || d < -tolerance {
		return fmt.Errorf("%s %d is more than %s away from now", HeaderTimestamp, sec, tolerance)
	}
	return Verify(secret, id, ts, body, sig)
}
