package webpush

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenLifetime is how long a VAPID token is valid; RFC 8292 allows at
// most 24 hours.
const TokenLifetime = 12 * time.Hour

// VAPID identifies the server to push services (RFC 8292). A subscription
// is made with its public key (the app's applicationServerKey); the push
// service then accepts messages for it only with a token signed by the
// private key.
type VAPID struct {
	// PrivateKey is the server's P-256 key.
	PrivateKey *ecdsa.PrivateKey
	// Subject is how the push service's operator can reach the server's
	// operator: a mailto: or https: URI.
	Subject string
}

// CheckSubject returns an error unless s is a mailto: or https: URI, as RFC
// 8292 section 2.1 asks of the sub claim.
func CheckSubject(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
	case u.Scheme == "mailto" && u.Opaque != "" && strings.Contains(u.Opaque, "@"):
		return nil
	case u.Scheme == "https" && u.Host != "":
		return nil
	}
	return fmt.Errorf("the VAPID subject %q must be a mailto: address or an https: URL, e.g. mailto:admin@example.com", s)
}

// PublicKey returns the public key as the uncompressed P-256 point,
// base64url: the applicationServerKey an app subscribes with, and the k
// of the Authorization header.
func (v VAPID) PublicKey() string {
	pub, err := v.PrivateKey.PublicKey.ECDH()
	if err != nil {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(pub.Bytes())
}

// Header returns the Authorization header of a push to endpoint at now:
// "vapid t=<JWT>, k=<public key>", where the JWT (ES256) has aud the
// origin of endpoint, exp now+TokenLifetime and sub the Subject.
func (v VAPID) Header(endpoint string, now time.Time) (string, error) {
	if v.PrivateKey == nil || v.PrivateKey.Curve != elliptic.P256() {
		return "", errors.New("web push: the VAPID key must be a P-256 key")
	}
	if err := CheckSubject(v.Subject); err != nil {
		return "", err
	}
	aud, err := origin(endpoint)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: v.PrivateKey}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("web push: VAPID signer: %w", err)
	}
	claims := map[string]any{"aud": aud, "exp": now.Add(TokenLifetime).Unix(), "sub": v.Subject}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("web push: sign VAPID token: %w", err)
	}
	return "vapid t=" + tok + ", k=" + v.PublicKey(), nil
}

// origin returns the ASCII origin of an http(s) URL (RFC 6454): scheme
// and host, with the port only when it is not the scheme's default.
func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("web push: the endpoint is not an absolute http(s) URL")
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(u.Scheme == "https" && p == "443") && !(u.Scheme == "http" && p == "80") {
		host += ":" + p
	}
	return u.Scheme + "://" + host, nil
}
