package fcm

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
)

// Credentials are what Provider needs of a Google service account: the
// Firebase project to send through, and the key that signs the token
// requests (OAuth 2.0 JWT bearer grant, RFC 7523).
type Credentials struct {
	ProjectID   string
	ClientEmail string
	// PrivateKeyID is the key's id in the service account (the JWT's kid);
	// it may be empty.
	PrivateKeyID string
	// TokenURI is where the signed assertion is exchanged for an access
	// token: https, or http to a loopback address (an emulator or a test).
	TokenURI   string
	PrivateKey *rsa.PrivateKey

	// pemKey is the private_key of the file, as golang.org/x/oauth2/jwt
	// takes it.
	pemKey []byte
}

// serviceAccountFile is the part of a service-account JSON key file that is
// read; the file has more members (client_id, auth_uri …), ignored.
type serviceAccountFile struct {
	Type         string `json:"type"`
	ProjectID    string `json:"project_id"`
	PrivateKeyID string `json:"private_key_id"`
	PrivateKey   string `json:"private_key"`
	ClientEmail  string `json:"client_email"`
	TokenURI     string `json:"token_uri"`
}

// projectIDRE is what may stand in the path of the send URL: Google project
// ids (lower-case letters, digits, hyphens) and legacy domain-scoped ones
// ("example.com:project").
var projectIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.:-]{0,127}$`)

// LoadCredentials reads and checks a service-account JSON key file (as the
// Google Cloud console or `gcloud iam service-accounts keys create` writes
// it). Its errors name the file and what is wrong with it.
func LoadCredentials(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the FCM service-account file: %w", err)
	}
	c, err := ParseCredentials(data)
	if err != nil {
		return nil, fmt.Errorf("the FCM service-account file %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials checks a service-account JSON key file: it must be a
// JSON object with type "service_account", a project_id, a client_email, a
// token_uri that is an https URL (or http to a loopback address), and a
// private_key that is a PEM RSA key (PKCS #8, as Google issues them, or
// PKCS #1). The error says which member is missing or wrong; it never
// repeats the key.
func ParseCredentials(data []byte) (*Credentials, error) {
	var f serviceAccountFile
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return nil, fmt.Errorf("member %q must be a string", te.Field)
		}
		return nil, fmt.Errorf("not a JSON service-account key: %w", err)
	}
	if dec.More() {
		return nil, errors.New("not a JSON service-account key: data after the JSON object")
	}
	var missing []string
	for _, m := range []struct{ name, value string }{
		{"type", f.Type}, {"project_id", f.ProjectID}, {"private_key", f.PrivateKey},
		{"client_email", f.ClientEmail}, {"token_uri", f.TokenURI},
	} {
		if strings.TrimSpace(m.value) == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s (download a new JSON key of the service account)", strings.Join(missing, ", "))
	}
	if f.Type != "service_account" {
		return nil, fmt.Errorf("type is %q, not \"service_account\": give the JSON key of a service account, not another kind of Google credentials", f.Type)
	}
	if !projectIDRE.MatchString(f.ProjectID) {
		return nil, fmt.Errorf("project_id %q is not a Google Cloud project id", f.ProjectID)
	}
	if !strings.Contains(f.ClientEmail, "@") || strings.ContainsAny(f.ClientEmail, " \t\r\n") {
		return nil, fmt.Errorf("client_email %q is not an email address", f.ClientEmail)
	}
	if err := CheckURL(f.TokenURI); err != nil {
		return nil, fmt.Errorf("token_uri: %w", err)
	}
	key, err := parseRSAKey([]byte(f.PrivateKey))
	if err != nil {
		return nil, fmt.Errorf("private_key: %w", err)
	}
	return &Credentials{
		ProjectID: f.ProjectID, ClientEmail: f.ClientEmail, PrivateKeyID: f.PrivateKeyID,
		TokenURI: f.TokenURI, PrivateKey: key, pemKey: []byte(f.PrivateKey),
	}, nil
}

// parseRSAKey parses a PEM private key, PKCS #8 or PKCS #1, and requires
// RSA (the JWT bearer grant of Google is RS256).
func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, errors.New("not a PEM block (\"-----BEGIN PRIVATE KEY-----\" …)")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("more than one PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q, not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the %s block does not parse: %w", block.Type, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %s, not RSA", keyKind(key))
	}
	if rk.N.BitLen() < 2048 {
		return nil, fmt.Errorf("the RSA key has %d bits; at least 2048 are needed", rk.N.BitLen())
	}
	return rk, nil
}

func keyKind(key any) string {
	switch fmt.Sprintf("%T", key) {
	case "*ecdsa.PrivateKey":
		return "an ECDSA key"
	case "ed25519.PrivateKey":
		return "an Ed25519 key"
	case "*ecdh.PrivateKey":
		return "an X25519 key"
	}
	return fmt.Sprintf("a %T", key)
}

// CheckURL checks the URL of the FCM endpoint or of the token endpoint:
// absolute, https, or http to a loopback address (an emulator, a local
// proxy, a test), without user information, query or fragment. Access
// tokens and signed assertions are sent there.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL", raw)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("%q is not an absolute https URL", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q is http: use https (http is allowed to loopback addresses only)", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return fmt.Errorf("%q must have no user information, query or fragment", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
