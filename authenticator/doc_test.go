package authenticator_test

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/deviceproto"
)

// The examples of docs/device-protocol.md are signed with this key. It is
// an example: it is here, in a test, and nowhere else.
const exampleKeyPEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgmZNlBrz/fio2OZsV
Mzb766pzPyifzloc+1WrGtYuTK6hRANCAAToWY2d3vYbJTOploJT/6wN7Y7OxSuw
waOwBH41wQcDWl8LBxwKJrryIKqhfkD0gnXzQH9SP1yrM5ncRXq3OWyr
-----END PRIVATE KEY-----`

var updateDoc = flag.Bool("update-doc", false, "sign the example JWS of docs/device-protocol.md again and write them into it")

const docPath = "../docs/device-protocol.md"

// The values of the worked example.
const (
	exCredID = "9f2c4e1a7b3d5f60718293a4b5c6d7e8"
	exVID    = "6f1d2c3b-4a59-4e87-9d6c-5b4a3f2e1d0c"
	exToken  = "p7Vd2kQ9xYbN3rT5wZ8cA1fH4jL6mP0sU2vX5yB7eG9"
)

func exStep(i int) *int { return &i }

// docExamples are the signed messages of the document, by the name of
// their <!-- example: NAME --> marker.
var docExamples = map[string]any{
	"pair": deviceproto.PairClaims{PairingToken: exToken, IssuedAt: 1795600830, DeviceName: "Priya's Pixel 8", Platform: "android"},
	"answer-number": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Hq8ZtV3mYc1LpR6wXe0aKs9dNf4gUj2bTo7iMv5yQrE", Action: "answer",
		VerificationID: exVID, Step: exStep(2), IssuedAt: 1795600836,
		Answer: map[string]json.RawMessage{"number": json.RawMessage(`"42"`)},
	},
	"answer-location": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Wd4nB8xKq2ZsT6yLm0cVr3pFg9hJa5eUi1oNt7wYk2M", Action: "answer",
		VerificationID: exVID, Step: exStep(3), IssuedAt: 1795600841,
		Answer: map[string]json.RawMessage{"location": json.RawMessage(`{"lat":12.971598,"lon":77.594566,"accuracy_m":12.5,"accuracy_kind":"p68","read_at":1795600840}`)},
	},
	"answer-pan": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Rk7cM2vXp9LqT4zBn6wYs1dGh8jFa3eKu0oVt5iNx2P", Action: "answer",
		VerificationID: exVID, Step: exStep(4), IssuedAt: 1795600852,
		Answer: map[string]json.RawMessage{"pan_number": json.RawMessage(`"ABCPE1234F"`)},
	},
	"answer-register": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Yb3sQ8nLw1ZkV6xTc4pMr9fHg2jDa7eUo5iNt0yGq3R", Action: "answer",
		VerificationID: exVID, Step: exStep(5), IssuedAt: 1795600855,
	},
	"revoke": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Zr4tW9kLm2QxN7vBc5sYp1dHg8jFa3eUo6iKt0wXn5R", Action: "revoke", IssuedAt: 1795601200,
	},
	"session": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Tn5wK1xZq8LmB3vYc6sRp0dGf4hJa9eUi2oVk7yNs4Q", Action: "session",
		VerificationID: exVID, IssuedAt: 1795600870,
	},
	"deny": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Hq8ZtV3mYc1LpR6wXe0aKs9dNf4gUj2bTo7iMv5yQrE", Action: "deny",
		VerificationID: exVID, Step: exStep(2), IssuedAt: 1795600836,
	},
	"inbox": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Gm2xV7nQk4ZsL9wBc1tYp6dRf3hJa8eUo0iKt5yNv6S", Action: "inbox", IssuedAt: 1795687200,
	},
	"accept": deviceproto.RequestClaims{
		CredID: exCredID, Challenge: "Lp6vN3xRk9ZqW2sBm8cTy5dGh1jFa4eUi7oKt0wYn8T", Action: "accept",
		VerificationID: "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d", IssuedAt: 1795687214,
	},
}

func exampleKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode([]byte(exampleKeyPEM))
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// exampleRE finds a marker and the fenced block after it.
var exampleRE = regexp.MustCompile("<!-- example: ([a-z0-9.-]+) -->\\s*\n```[a-z]*\n((?s:.*?))\n```")

type docBlock struct {
	text       string
	start, end int // of text in the document
}

func readDocExamples(t *testing.T) (string, map[string]docBlock) {
	t.Helper()
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	blocks := map[string]docBlock{}
	for _, m := range exampleRE.FindAllStringSubmatchIndex(doc, -1) {
		name := doc[m[2]:m[3]]
		if _, dup := blocks[name]; dup {
			t.Errorf("example %q is in the document twice", name)
		}
		blocks[name] = docBlock{text: doc[m[4]:m[5]], start: m[4], end: m[5]}
	}
	return doc, blocks
}

// signExample signs the claims of an example with the example key.
func signExample(t *testing.T, key *ecdsa.PrivateKey, claims any) string {
	t.Helper()
	var jws string
	var err error
	switch c := claims.(type) {
	case deviceproto.PairClaims:
		jws, err = deviceproto.SignPair(key, c)
	case deviceproto.RequestClaims:
		jws, err = deviceproto.SignRequest(key, c)
	}
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// TestDocExamples verifies every example JWS of docs/device-protocol.md
// with the example key, checks its claims, and checks that the decoded
// headers and payloads, the JWK and the thumbprint shown next to them are
// those of the signed messages. Run it with -update-doc to sign the
// examples again (after changing their claims here).
func TestDocExamples(t *testing.T) {
	key := exampleKey(t)
	doc, blocks := readDocExamples(t)
	if *updateDoc {
		// Replace from the end so that earlier offsets stay valid.
		type repl struct {
			start, end int
			text       string
		}
		var rs []repl
		for name, claims := range docExamples {
			if b, ok := blocks[name]; ok {
				rs = append(rs, repl{b.start, b.end, signExample(t, key, claims)})
			}
		}
		slices.SortFunc(rs, func(a, b repl) int { return b.start - a.start })
		for _, r := range rs {
			doc = doc[:r.start] + r.text + doc[r.end:]
		}
		if err := os.WriteFile(docPath, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		_, blocks = readDocExamples(t)
	}

	jwk := deviceproto.PublicJWK(&key.PublicKey)
	jwkJSON, err := jwk.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	thumb, err := deviceproto.Thumbprint(&jwk)
	if err != nil {
		t.Fatal(err)
	}

	for name, want := range docExamples {
		t.Run(name, func(t *testing.T) {
			b, ok := blocks[name]
			if !ok {
				t.Fatalf("%s has no <!-- example: %s --> block", filepath.Base(docPath), name)
			}
			jws := strings.TrimSpace(b.text)
			var got any
			switch want.(type) {
			case deviceproto.PairClaims:
				c, _, tp, err := deviceproto.VerifyPair(jws)
				if err != nil {
					t.Fatalf("the example does not verify: %v", err)
				}
				if tp != thumb {
					t.Errorf("the example is signed by a key of thumbprint %s, not the example key's %s", tp, thumb)
				}
				got = *c
			case deviceproto.RequestClaims:
				c, err := deviceproto.VerifyRequest(jws, jwkJSON)
				if err != nil {
					t.Fatalf("the example does not verify with the example key: %v", err)
				}
				got = *c
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}

	for name, b := range blocks {
		base, part, _ := strings.Cut(name, ".")
		var want []byte
		switch {
		case name == "jwk":
			// The JWK as a pairing header carries it: without use and alg.
			var m map[string]any
			if err := json.Unmarshal(jwkJSON, &m); err != nil {
				t.Fatal(err)
			}
			delete(m, "use")
			delete(m, "alg")
			if want, err = json.Marshal(m); err != nil {
				t.Fatal(err)
			}
		case name == "thumbprint":
			if got := strings.TrimSpace(b.text); got != thumb {
				t.Errorf("the document's thumbprint is %s, the example key's %s", got, thumb)
			}
			continue
		case part == "header" || part == "payload":
			src, ok := blocks[base]
			if !ok {
				t.Errorf("example %s: there is no example %s", name, base)
				continue
			}
			segs := strings.Split(strings.TrimSpace(src.text), ".")
			i := map[string]int{"header": 0, "payload": 1}[part]
			if len(segs) != 3 {
				t.Errorf("example %s is not a compact JWS", base)
				continue
			}
			if want, err = base64.RawURLEncoding.DecodeString(segs[i]); err != nil {
				t.Errorf("example %s: %v", base, err)
				continue
			}
		default:
			if _, ok := docExamples[name]; !ok {
				t.Errorf("the document has an example %q the test does not know", name)
			}
			continue
		}
		var g, w any
		if err := json.Unmarshal([]byte(b.text), &g); err != nil {
			t.Errorf("example %s is not JSON: %v", name, err)
			continue
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(w, g); diff != "" {
			t.Errorf("example %s differs from the signed message (-signed +document):\n%s", name, diff)
		}
	}
}
