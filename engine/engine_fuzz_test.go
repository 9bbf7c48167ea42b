package engine_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

// tokenFixture is a verification whose hand-over waits for a phone: its
// link token (opened by the browser "browser") and a live pairing token.
type tokenFixture struct {
	eng        *engine.Engine
	db         *store.DB
	v          *tandem.Verification
	link, pair string
}

func newTokenFixture(tb testing.TB) *tokenFixture {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite::memory:", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	env, _ := rules.NewEnv()
	val := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	if err := json.Unmarshal([]byte(deviceWorkspace), &doc); err != nil {
		tb.Fatal(err)
	}
	if _, err := val.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		tb.Fatal(err)
	}
	f := &tokenFixture{db: db}
	f.eng = &engine.Engine{Store: db, Modules: val.Modules, Rules: env, Events: events.NewHub(), Inboxes: events.NewHub(), Now: time.Now, PublicURL: "https://verify.example"}
	app, err := db.GetApplication(ctx, "acme", "web")
	if err != nil {
		tb.Fatal(err)
	}
	c, err := f.eng.Create(ctx, app, engine.CreateRequest{UserID: "mark", AllowNewDevice: true}, "")
	if err != nil {
		tb.Fatal(err)
	}
	f.link = strings.TrimPrefix(c.URL, "https://verify.example/v/")
	if _, err := f.eng.Open(ctx, f.link, "browser", "198.51.100.7", "Firefox"); err != nil {
		tb.Fatal(err)
	}
	p, err := f.eng.NewPairing(ctx, f.link, "browser", "")
	if err != nil {
		tb.Fatal(err)
	}
	f.pair = strings.TrimPrefix(p.URL, "https://verify.example/d/")
	if f.v, err = db.GetVerification(ctx, c.Verification.ID); err != nil {
		tb.Fatal(err)
	}
	return f
}

// unchanged fails unless the verification is as it was after setup and no
// device exists.
func (f *tokenFixture) unchanged(t *testing.T, what string) {
	t.Helper()
	v, err := f.db.GetVerification(context.Background(), f.v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != f.v.Version || v.Status != f.v.Status || v.Device.CredID != "" {
		t.Fatalf("%s changed the verification: version %d → %d, status %s, device %q", what, f.v.Version, v.Version, v.Status, v.Device.CredID)
	}
	if devs, err := f.db.ListDevices(context.Background(), "acme", "mark"); err != nil || len(devs) != 0 {
		t.Fatalf("%s: devices %v (%v), want none", what, devs, err)
	}
}

// FuzzLinkToken gives the engine's link lookups (what the web handlers take
// from /v/{token}) arbitrary tokens, some close to the real one: only the
// exact token finds the verification, for the bound browser only; anything
// else is ENOTFOUND, never a panic or another failure, and nothing is
// written but audit entries.
func FuzzLinkToken(f *testing.F) {
	f.Add("", uint8(255), "", "browser")  // the real token
	f.Add("", uint8(255), "x", "browser") // one character more
	f.Add("", uint8(42), "", "browser")   // a prefix
	f.Add("", uint8(255), "", "")         // no browser key
	f.Add("", uint8(255), "", "browser2") // another browser
	f.Add("../", uint8(0), "%00", "' OR 1=1 --")
	f.Add(strings.Repeat("A", 200), uint8(0), "", "browser")
	f.Add("{{.}}", uint8(0), "<script>", "browser")
	fx := newTokenFixture(f)
	f.Fuzz(func(t *testing.T, prefix string, keep uint8, suffix, browser string) {
		ctx := context.Background()
		n := min(int(keep), len(fx.link))
		token := prefix + fx.link[:n] + suffix
		real := token == fx.link
		check := func(what string, err error) {
			t.Helper()
			switch {
			case real && browser == "browser":
				if err != nil && tandem.ErrorCode(err) == tandem.ENOTFOUND {
					t.Fatalf("%s: the real token with its browser: %v", what, err)
				}
			case real:
				if tandem.ErrorCode(err) != tandem.EFORBIDDEN {
					t.Fatalf("%s: the real token in another browser (%q): %v, want EFORBIDDEN", what, browser, err)
				}
			default:
				if tandem.ErrorCode(err) != tandem.ENOTFOUND {
					t.Fatalf("%s(%q): %v, want ENOTFOUND", what, token, err)
				}
			}
		}
		_, err := fx.eng.Lookup(ctx, token, browser, "203.0.113.9")
		check("Lookup", err)
		if !real {
			_, err = fx.eng.Open(ctx, token, browser, "203.0.113.9", "Fuzz")
			check("Open", err)
			_, err = fx.eng.NewPairing(ctx, token, browser, "203.0.113.9")
			check("NewPairing", err)
			_, err = fx.eng.Submit(ctx, token, browser, 0, map[string]string{"pan_number": suffix}, "203.0.113.9")
			check("Submit", err)
			_, err = fx.eng.SetWebLocation(ctx, token, browser, tandem.WebLocation{Lat: 1, Lon: 1, AccuracyM: 1}, "203.0.113.9")
			check("SetWebLocation", err)
		}
		fx.unchanged(t, "a link lookup")
	})
}

// FuzzPairingToken pairs properly signed messages whose pairing_token is
// anything but the live one (mutations of it included), with fuzzed device
// names and platforms: each is refused as pairing_invalid (ENOTFOUND), and
// neither a device nor a change of the verification is written.
func FuzzPairingToken(f *testing.F) {
	f.Add("", uint8(255), "x", "Pixel", "android")
	f.Add("", uint8(20), "", "iPhone", "ios")
	f.Add("x", uint8(255), "", "", "")
	f.Add("", uint8(0), "", strings.Repeat("é", 500), "<script>")
	f.Add("' OR 1=1 --", uint8(0), "{{.}}", "\x00", "../../")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	fx := newTokenFixture(f)
	f.Fuzz(func(t *testing.T, prefix string, keep uint8, suffix, name, platform string) {
		n := min(int(keep), len(fx.pair))
		token := prefix + fx.pair[:n] + suffix
		if token == fx.pair {
			return // the live token would pair, once
		}
		jws, err := deviceproto.SignPair(key, deviceproto.PairClaims{PairingToken: token, IssuedAt: time.Now().Unix(), DeviceName: name, Platform: platform})
		if err != nil {
			t.Fatal(err)
		}
		s, err := fx.eng.Pair(context.Background(), jws, "192.0.2.50")
		if err == nil || tandem.ErrorCode(err) != tandem.ENOTFOUND || tandem.ErrorReason(err) != "pairing_invalid" {
			t.Fatalf("Pair(%q) = %+v, %v; want pairing_invalid", token, s, err)
		}
		fx.unchanged(t, "a refused pairing")
	})
}
