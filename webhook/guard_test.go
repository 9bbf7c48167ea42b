package webhook_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-id/tandem/webhook"
)

// fakeResolver answers every name from a fixed table.
type fakeResolver map[string][]netip.Addr

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ips, ok := r[host]; ok {
		return ips, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestCheckAddr(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
		"100.64.0.1", "100.127.255.254", "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255", "240.0.0.1",
		"198.18.0.1", "192.0.0.8", "192.0.2.1",
		"::1", "::", "fc00::1", "fd12:3456::1", "fe80::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", // IPv4-mapped
		"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", // NAT64 of 127.0.0.1 and 169.254.169.254
		"2002:7f00:1::1", // 6to4 of 127.0.0.1
		"::127.0.0.1",    // IPv4-compatible
		"2001:db8::1",    // documentation
		"2001:0:4136::1", // Teredo
		"64:ff9b:1::1",   // local-use NAT64
	}
	for _, s := range refused {
		t.Run("Refuses/"+s, func(t *testing.T) {
			err := webhook.CheckAddr(netip.MustParseAddr(s))
			if !webhook.IsRefused(err) {
				t.Errorf("CheckAddr(%s) = %v, want a refusal", s, err)
			}
		})
	}
	for _, s := range []string{"93.184.215.14", "8.8.8.8", "100.63.255.255", "100.128.0.1", "2606:4700::6810:84e5", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		t.Run("Allows/"+s, func(t *testing.T) {
			if err := webhook.CheckAddr(netip.MustParseAddr(s)); err != nil {
				t.Errorf("CheckAddr(%s) = %v, want nil", s, err)
			}
		})
	}
}

// TestPolicyRefuses sends requests under the default policy to addresses
// that must not be reached: each is refused before any byte is sent.
func TestPolicyRefuses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	p := &webhook.Policy{Resolver: fakeResolver{
		"rebind.example": {netip.MustParseAddr("127.0.0.1")},
		"mixed.example":  {netip.MustParseAddr("10.1.1.1"), netip.MustParseAddr("::ffff:127.0.0.1")},
	}}
	client := p.Client(2 * time.Second)
	for _, tt := range []struct {
		name, url, reason string
	}{
		{"Loopback", "https://127.0.0.1:" + strconv.Itoa(port) + "/hook", "127.0.0.1 is a loopback address"},
		{"Private", "https://10.1.2.3/hook", "10.1.2.3 is a private address"},
		{"Metadata", "https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"},
		{"IPv6Loopback", "https://[::1]:" + strconv.Itoa(port) + "/hook", "::1 is a loopback address"},
		{"UniqueLocal", "https://[fc00::1]/hook", "fc00::1 is a private address"},
		{"CGNAT", "https://100.64.1.1/hook", "100.64.1.1 is a carrier-grade NAT address"},
		{"MappedLoopback", "https://[::ffff:127.0.0.1]:" + strconv.Itoa(port) + "/hook", "127.0.0.1 is a loopback address"},
		{"HTTPWithoutFlag", "http://hooks.example/hook", "uses http; webhooks are sent to https URLs only"},
		{"UserInfo", "https://u:p@hooks.example/hook", "carries a user name or password"},
		{"NameResolvingToLoopback", "https://rebind.example:" + strconv.Itoa(port) + "/hook", "127.0.0.1 is a loopback address"},
		{"NameResolvingToPrivateOnly", "https://mixed.example:" + strconv.Itoa(port) + "/hook", "is a private address"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := deliverOnce(t, p, client, tt.url)
			if !webhook.IsRefused(err) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("delivery to %s: %v; want a refusal saying %q", tt.url, err, tt.reason)
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	if n := accepted.Load(); n != 0 {
		t.Errorf("the loopback listener accepted %d connections, want none", n)
	}
}

// deliverOnce does what the dispatcher does with a URL: check it, then
// POST to it.
func deliverOnce(t *testing.T, p *webhook.Policy, c *http.Client, url string) error {
	t.Helper()
	u, err := p.CheckURL(url)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u.String(), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestPolicyAllows(t *testing.T) {
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the bare dial below ends without a handshake
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	plainSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer plainSrv.Close()
	trust := func(c *http.Client) *http.Client {
		c.Transport.(*http.Transport).TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
		return c
	}
	t.Run("AllowedHost", func(t *testing.T) {
		p := &webhook.Policy{AllowHosts: []string{"127.0.0.1"}}
		if err := deliverOnce(t, p, trust(p.Client(5*time.Second)), tlsSrv.URL); err != nil {
			t.Errorf("https to an allowed host: %v", err)
		}
		if err := deliverOnce(t, p, p.Client(5*time.Second), plainSrv.URL); !webhook.IsRefused(err) {
			t.Errorf("http to an allowed host without -allow-insecure-webhooks: %v, want refused", err)
		}
	})
	t.Run("AllowedHostByName", func(t *testing.T) {
		addr := "localhost:" + strings.TrimPrefix(tlsSrv.URL, "https://127.0.0.1:")
		resolver := fakeResolver{"localhost": {netip.MustParseAddr("127.0.0.1")}}
		p := &webhook.Policy{AllowHosts: []string{"LOCALHOST."}, Resolver: resolver}
		c, err := p.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s, an allowed host: %v", addr, err)
		}
		c.Close()
		p = &webhook.Policy{AllowHosts: []string{"hooks.internal"}, Resolver: resolver}
		if _, err := p.DialContext(t.Context(), "tcp", addr); !webhook.IsRefused(err) {
			t.Errorf("dial %s, not an allowed host: %v, want refused", addr, err)
		}
	})
	t.Run("Insecure", func(t *testing.T) {
		p := &webhook.Policy{AllowInsecure: true}
		if err := deliverOnce(t, p, p.Client(5*time.Second), plainSrv.URL); err != nil {
			t.Errorf("http to loopback with -allow-insecure-webhooks: %v", err)
		}
	})
	t.Run("NoRedirects", func(t *testing.T) {
		redirect := httptest.NewServer(http.RedirectHandler(plainSrv.URL, http.StatusFound))
		defer redirect.Close()
		p := &webhook.Policy{AllowInsecure: true}
		resp, err := p.Client(5*time.Second).Post(redirect.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			t.Errorf("status %d; want the 302 itself, not followed", resp.StatusCode)
		}
	})
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
