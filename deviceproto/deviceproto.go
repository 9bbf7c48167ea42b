// Package deviceproto is the wire format of Tandem's device protocol
// (/device/v1), shared by the server and the Go authenticator client: the
// signed messages a device sends, the answers it gets, and the functions
// that sign and verify them. docs/device-protocol.md describes it for
// authors of other clients.
package deviceproto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
)

// JWS "typ" header values.
const (
	TypPair    = "tandem-pair+jws"
	TypRequest = "tandem-device+jws"
)

// Actions of a signed device request.
const (
	ActionSession = "session" // read the current state of a hand-over
	ActionAnswer  = "answer"  // answer the current step
	ActionDeny    = "deny"    // "this wasn't me"
	ActionInbox   = "inbox"   // read the inbox (push mode)
	ActionAccept  = "accept"  // take a prompt from the inbox
	// ActionPushRegister registers (or clears) how the server wakes the
	// device: the request's Push claim.
	ActionPushRegister = "push_register"
)

// MaxClockSkew is how far a request's iat may be from the server's clock.
const MaxClockSkew = 5 * time.Minute

// Envelope is the body of every POST to /device/v1 that carries a JWS.
type Envelope struct {
	JWS string `json:"jws"`
}

// PairClaims is the payload of the pairing JWS, signed by the device's new
// (or existing) key, whose public JWK is in the JWS header.
type PairClaims struct {
	PairingToken string `json:"pairing_token"`
	IssuedAt     int64  `json:"iat"`
	DeviceName   string `json:"device_name,omitempty"`
	Platform     string `json:"platform,omitempty"`
}

// RequestClaims is the payload of every signed request after pairing.
type RequestClaims struct {
	CredID         string                     `json:"cred_id"`
	Challenge      string                     `json:"challenge"`
	Action         string                     `json:"action"`
	VerificationID string                     `json:"verification_id,omitempty"`
	Step           *int                       `json:"step,omitempty"`
	IssuedAt       int64                      `json:"iat"`
	Answer         map[string]json.RawMessage `json:"answer,omitempty"`
	// Push is the registration a push_register request stores.
	Push *PushRegistration `json:"push,omitempty"`
}

// ChallengeRequest is the body of POST /device/v1/challenge.
type ChallengeRequest struct {
	CredID string `json:"cred_id"`
}

// ChallengeResponse carries a fresh single-use challenge.
type ChallengeResponse struct {
	Challenge          string `json:"challenge"`
	ChallengeExpiresAt int64  `json:"challenge_expires_at"`
}

// Context tells the person on the phone what they are answering.
type Context struct {
	Application  string `json:"application"`
	WebIP        string `json:"web_ip,omitempty"`
	WebUserAgent string `json:"web_user_agent,omitempty"`
	RequestedAt  int64  `json:"requested_at"`
	// BindingMessage is the message the client that started the
	// verification shows (OpenID CIBA binding_message): the person checks
	// that both show the same.
	BindingMessage string `json:"binding_message,omitempty"`
}

// Prompt is the current step the device must answer.
type Prompt struct {
	Index       int           `json:"index"`
	Type        string        `json:"type"`
	DisplayName string        `json:"display_name"`
	Nodes       []module.Node `json:"nodes"`
	Error       string        `json:"error,omitempty"`
}

// Session is the answer to pairing and to every signed request about a
// hand-over: its state, the step to answer (if any) and the challenge for
// the next request.
type Session struct {
	CredID         string `json:"cred_id"`
	VerificationID string `json:"verification_id"`
	// Status is "in_progress" while steps remain, then "passed" or
	// "failed" for the phone's part.
	Status             string  `json:"status"`
	Message            string  `json:"message,omitempty"`
	Context            Context `json:"context"`
	Step               *Prompt `json:"step,omitempty"`
	Challenge          string  `json:"challenge"`
	ChallengeExpiresAt int64   `json:"challenge_expires_at"`
}

// InboxResponse lists the prompts waiting for a device (push mode).
type InboxResponse struct {
	Prompts            []InboxPrompt `json:"prompts"`
	Challenge          string        `json:"challenge"`
	ChallengeExpiresAt int64         `json:"challenge_expires_at"`
}

// InboxPrompt is one waiting prompt.
type InboxPrompt struct {
	VerificationID string  `json:"verification_id"`
	Context        Context `json:"context"`
	ExpiresAt      int64   `json:"expires_at"`
}

// Problem is the body of every error answer (RFC 9457), with Code the
// machine-readable reason.
type Problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code,omitempty"`
}

// Location is the answer to a location node.
type Location struct {
	Lat       float64 `json:"lat"`
	Lon       float64 `json:"lon"`
	AccuracyM float64 `json:"accuracy_m"`
	// AccuracyKind tells what AccuracyM is: "p68" (Android's one-sigma
	// radius) or "p95".
	AccuracyKind string `json:"accuracy_kind,omitempty"`
	ReadAt       int64  `json:"read_at"`
	Mock         bool   `json:"mock,omitempty"`
}

var es256 = []jose.SignatureAlgorithm{jose.ES256}

// PublicJWK returns the public JWK of a P-256 key.
func PublicJWK(key *ecdsa.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, Algorithm: string(jose.ES256), Use: "sig"}
}

// Thumbprint returns the RFC 7638 SHA-256 thumbprint of a JWK, base64url.
func Thumbprint(jwk *jose.JSONWebKey) (string, error) {
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// SignPair signs pairing claims with key, putting its public JWK in the
// header.
func SignPair(key *ecdsa.PrivateKey, c PairClaims) (string, error) {
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(TypPair)
	return sign(key, c, opts)
}

// SignRequest signs request claims with key; the header's kid is the
// credential id.
func SignRequest(key *ecdsa.PrivateKey, c RequestClaims) (string, error) {
	opts := (&jose.SignerOptions{}).WithType(TypRequest).WithHeader(jose.HeaderKey("kid"), c.CredID)
	return sign(key, c, opts)
}

func sign(key *ecdsa.PrivateKey, claims any, opts *jose.SignerOptions) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// refuse builds the error of a refused message.
func refuse(reason, format string, args ...any) error {
	return tandem.Refusef(tandem.EUNAUTHORIZED, reason, format, args...)
}

// parse parses a compact JWS, refusing every algorithm but ES256 and a
// wrong typ.
func parse(compact, typ string) (*jose.JSONWebSignature, error) {
	if len(compact) > 64<<10 {
		return nil, refuse("malformed_jws", "The signed message is too large.")
	}
	obj, err := jose.ParseSignedCompact(compact, es256)
	if err != nil {
		if alg, herr := peekAlg(compact); herr == nil && alg != string(jose.ES256) {
			return nil, refuse("unsupported_algorithm", "The message is signed with %q; only ES256 is accepted.", alg)
		}
		return nil, refuse("malformed_jws", "The signed message is not a valid compact JWS (ES256).")
	}
	if len(obj.Signatures) != 1 {
		return nil, refuse("malformed_jws", "The signed message must carry exactly one signature.")
	}
	h := obj.Signatures[0].Protected
	if t, _ := h.ExtraHeaders[jose.HeaderType].(string); t != typ {
		return nil, refuse("wrong_type", "The signed message has typ %q; this endpoint takes %q.", t, typ)
	}
	return obj, nil
}

// peekAlg reads the alg of a compact JWS header without trusting it.
func peekAlg(compact string) (string, error) {
	i := 0
	for i < len(compact) && compact[i] != '.' {
		i++
	}
	raw, err := base64.RawURLEncoding.DecodeString(compact[:i])
	if err != nil {
		return "", err
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", err
	}
	return h.Alg, nil
}

// checkP256 refuses any key but an EC P-256 public key.
func checkP256(jwk *jose.JSONWebKey) (*ecdsa.PublicKey, error) {
	if jwk == nil || !jwk.Valid() {
		return nil, refuse("bad_key", "The message carries no valid public key.")
	}
	pub, ok := jwk.Key.(*ecdsa.PublicKey)
	if !ok || !jwk.IsPublic() {
		return nil, refuse("bad_key", "The key must be an EC P-256 public key.")
	}
	if pub.Curve != elliptic.P256() {
		return nil, refuse("bad_key", "The key is on curve %s; only P-256 is accepted.", pub.Curve.Params().Name)
	}
	return pub, nil
}

// VerifyPair verifies a pairing JWS: ES256, typ TypPair, signed by the
// P-256 key in its own header. It returns the claims, the public key as a
// JWK and its thumbprint.
func VerifyPair(compact string) (*PairClaims, *jose.JSONWebKey, string, error) {
	obj, err := parse(compact, TypPair)
	if err != nil {
		return nil, nil, "", err
	}
	jwk := obj.Signatures[0].Protected.JSONWebKey
	pub, err := checkP256(jwk)
	if err != nil {
		return nil, nil, "", err
	}
	payload, err := obj.Verify(pub)
	if err != nil {
		return nil, nil, "", refuse("bad_signature", "The signature does not verify with the key in the message.")
	}
	var c PairClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, nil, "", refuse("malformed_jws", "The signed payload is not a pairing message.")
	}
	pubJWK := PublicJWK(pub)
	tp, err := Thumbprint(&pubJWK)
	if err != nil {
		return nil, nil, "", fmt.Errorf("thumbprint: %w", err)
	}
	return &c, &pubJWK, tp, nil
}

// KeyID returns the kid of a signed request without verifying it, so the
// server can look up the device's key.
func KeyID(compact string) (string, error) {
	obj, err := parse(compact, TypRequest)
	if err != nil {
		return "", err
	}
	kid := obj.Signatures[0].Protected.KeyID
	if kid == "" {
		return "", refuse("malformed_jws", "The signed message has no kid (the credential id).")
	}
	return kid, nil
}

// VerifyRequest verifies a signed request with the device's stored public
// JWK and returns its claims. The claims' cred_id must equal the kid.
func VerifyRequest(compact string, publicJWK []byte) (*RequestClaims, error) {
	obj, err := parse(compact, TypRequest)
	if err != nil {
		return nil, err
	}
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(publicJWK); err != nil {
		return nil, fmt.Errorf("stored device key: %w", err)
	}
	pub, err := checkP256(&jwk)
	if err != nil {
		return nil, err
	}
	payload, err := obj.Verify(pub)
	if err != nil {
		return nil, refuse("bad_signature", "The signature does not verify with this device's key.")
	}
	var c RequestClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, refuse("malformed_jws", "The signed payload is not a device request.")
	}
	if c.CredID != obj.Signatures[0].Protected.KeyID {
		return nil, refuse("bad_signature", "The payload's cred_id differs from the header's kid.")
	}
	return &c, nil
}
