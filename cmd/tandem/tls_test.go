package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tandem test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	db := "sqlite:" + filepath.Join(t.TempDir(), "t.db")
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", db, "-tls-cert", certFile, "-tls-key", keyFile}, func(string) string { return "" })
	m := regexp.MustCompile(`listening on (https://\S+) \(public URL (https://\S+)\)`).FindStringSubmatch(s.stdout.String())
	if m == nil {
		t.Fatalf("no https listening line and https public URL in:\n%s", s.stdout)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(m[1] + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /readyz over TLS: %d", resp.StatusCode)
	}
}

func TestServeTLSRefusesHalfConfig(t *testing.T) {
	certFile, _, _ := selfSigned(t)
	var out, errOut syncBuffer
	err := Run(t.Context(), []string{"serve", "-addr", "127.0.0.1:0", "-db", "sqlite:" + filepath.Join(t.TempDir(), "t.db"), "-tls-cert", certFile},
		&out, &errOut, withSecretKey(func(string) string { return "" }))
	if code, msg := exitStatus(err); code != 2 || !strings.Contains(msg, "-tls-key") {
		t.Errorf("only -tls-cert: exit %d %q; want a usage error naming -tls-key", code, msg)
	}
}
