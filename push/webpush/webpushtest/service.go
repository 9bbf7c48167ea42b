// Package webpushtest is a push service for tests: it holds one
// subscription's private keys, decrypts what is pushed to it (RFC 8291, as
// a browser does) and checks the VAPID Authorization (RFC 8292), with the
// standard library only, independently of package webpush.
package webpushtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one push the service received.
type Message struct {
	Path   string
	Header http.Header
	Body   []byte
	// Plaintext is the decrypted body; DecryptErr says why it is nil.
	Plaintext  []byte
	DecryptErr error
	// VAPID is the verified token's claims; VAPIDErr says why it is nil.
	VAPID    map[string]any
	VAPIDKey string // the k of the Authorization header
	VAPIDErr error
}

// Service is a TLS push service with one subscription. Its client
// (Service.Client()) trusts its certificate.
type Service struct {
	*httptest.Server
	// UA is the subscription's private key and Auth its secret.
	UA   *ecdh.PrivateKey
	Auth []byte
	// Now is the clock the VAPID expiry is checked against; nil is
	// time.Now.
	Now func() time.Time

	mu     sync.Mutex
	status int
	got    []Message
}

// New starts a service that answers 201 Created; it is closed when the test
// ends.
func New(t testing.TB) *Service {
	t.Helper()
	ua, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{UA: ua, Auth: make([]byte, 16), status: http.StatusCreated}
	rand.Read(s.Auth)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Endpoint is the subscription's endpoint.
func (s *Service) Endpoint() string { return s.URL + "/push/sub-7d3f" }

// Token returns the subscription's JSON, as a browser's
// PushSubscription.toJSON() gives it, for an endpoint (Endpoint() when
// "").
func (s *Service) Token(endpoint string) string {
	if endpoint == "" {
		endpoint = s.Endpoint()
	}
	b, _ := json.Marshal(map[string]any{
		"endpoint": endpoint, "expirationTime": nil,
		"keys": map[string]string{
			"p256dh": base64.RawURLEncoding.EncodeToString(s.UA.PublicKey().Bytes()),
			"auth":   base64.RawURLEncoding.EncodeToString(s.Auth),
		},
	})
	return string(b)
}

// SetStatus sets the status the service answers pushes with.
func (s *Service) SetStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

// Messages returns the pushes received so far.
func (s *Service) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.got...)
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	m := Message{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
	m.Plaintext, m.DecryptErr = Decrypt(s.UA, s.Auth, body)
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	m.VAPID, m.VAPIDKey, m.VAPIDErr = VerifyVAPID(r.Header.Get("Authorization"), s.URL, now())
	s.mu.Lock()
	s.got = append(s.got, m)
	st := s.status
	s.mu.Unlock()
	if r.Method != http.MethodPost {
		st = http.StatusMethodNotAllowed
	}
	w.WriteHeader(st)
	if st >= 400 {
		fmt.Fprintf(w, `{"code":%d,"message":"test push service says %d"}`, st, st)
	}
}

// Decrypt decrypts a push message body (aes128gcm, RFC 8291 and RFC 8188)
// with the subscription's private key and auth secret, as the user agent
// does.
func Decrypt(ua *ecdh.PrivateKey, auth, body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("body shorter than the aes128gcm header")
	}
	salt, rs, idlen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if idlen != 65 || len(body) < 21+idlen {
		return nil, fmt.Errorf("keyid length %d, want 65", idlen)
	}
	keyid, ct := body[21:21+idlen], body[21+idlen:]
	if rs < 18 || uint32(len(ct)) > rs {
		return nil, fmt.Errorf("record size %d does not hold the %d-byte record (one record expected)", rs, len(ct))
	}
	as, err := ecdh.P256().NewPublicKey(keyid)
	if err != nil {
		return nil, fmt.Errorf("keyid is not a P-256 point: %w", err)
	}
	shared, err := ua.ECDH(as)
	if err != nil {
		return nil, err
	}
	ikm, _ := hkdf.Key(sha256.New, shared, auth, "WebPush: info\x00"+string(ua.PublicKey().Bytes())+string(keyid), 32)
	cek, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	nonce, _ := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	block, _ := aes.NewCipher(cek)
	gcm, _ := cipher.NewGCM(block)
	rec, err := gcm.Open(nil, nonce, ct, nil)
	if err != nil {
		return nil, fmt.Errorf("record does not decrypt: %w", err)
	}
	i := len(rec) - 1
	for i >= 0 && rec[i] == 0 {
		i--
	}
	if i < 0 || rec[i] != 0x02 {
		return nil, errors.New("the record does not end with the last-record delimiter 0x02")
	}
	return rec[:i], nil
}

// VerifyVAPID checks a "vapid t=<JWT>, k=<key>" Authorization header for a
// push service at origin: an ES256 JWT that verifies with k, with aud
// origin, exp after now and at most 24 hours ahead, and a mailto: or
// https: sub. It returns the claims and k.
func VerifyVAPID(header, origin string, now time.Time) (map[string]any, string, error) {
	rest, ok := strings.CutPrefix(header, "vapid ")
	if !ok {
		return nil, "", fmt.Errorf("authorization %q is not of the vapid scheme", header)
	}
	params := map[string]string{}
	for p := range strings.SplitSeq(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = v
	}
	tok, k := params["t"], params["k"]
	if tok == "" || k == "" {
		return nil, "", fmt.Errorf("authorization %q lacks t or k", header)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return nil, k, fmt.Errorf("k: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, k, fmt.Errorf("k is not an uncompressed P-256 point: %w", err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, k, errors.New("t is not a compact JWS")
	}
	var hdr map[string]any
	if err := decodeJSON(parts[0], &hdr); err != nil || hdr["alg"] != "ES256" {
		return nil, k, fmt.Errorf("JWT header %v: want alg ES256", hdr)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return nil, k, errors.New("the JWT signature is not 64 bytes of R || S")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, k, errors.New("the JWT signature does not verify with k")
	}
	var claims map[string]any
	if err := decodeJSON(parts[1], &claims); err != nil {
		return nil, k, fmt.Errorf("JWT claims: %w", err)
	}
	if claims["aud"] != origin {
		return claims, k, fmt.Errorf("aud %v, want %s", claims["aud"], origin)
	}
	exp, _ := claims["exp"].(float64)
	if e := time.Unix(int64(exp), 0); !e.After(now) || e.After(now.Add(24*time.Hour)) {
		return claims, k, fmt.Errorf("exp %v is not within 24 hours after %v", e, now)
	}
	if sub, _ := claims["sub"].(string); !strings.HasPrefix(sub, "mailto:") && !strings.HasPrefix(sub, "https:") {
		return claims, k, fmt.Errorf("sub %q is not a mailto: or https: URI", sub)
	}
	return claims, k, nil
}

func decodeJSON(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
