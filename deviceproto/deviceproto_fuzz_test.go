package deviceproto_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/deviceproto"
)

// The fuzz targets use fixed keys so that a failing input reproduces.
var (
	phoneKey = mustKey(elliptic.P256(), "6c3f8a1d2e4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1")
	otherKey = mustKey(elliptic.P256(), "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20")
	p384Key  = mustKey(elliptic.P384(), "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f30")
)

const credID = "0123456789abcdef0123456789abcdef"

func mustKey(c elliptic.Curve, hexD string) *ecdsa.PrivateKey {
	d, ok := new(big.Int).SetString(hexD, 16)
	if !ok {
		panic("bad key")
	}
	k, err := ecdsa.ParseRawPrivateKey(c, d.FillBytes(make([]byte, (c.Params().BitSize+7)/8)))
	if err != nil {
		panic(err)
	}
	return k
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(v any) string {
	b, _ := json.Marshal(v)
	return b64(b)
}

func jwkOf(k *ecdsa.PrivateKey) json.RawMessage {
	b, err := (&jose.JSONWebKey{Key: &k.PublicKey}).MarshalJSON()
	if err != nil {
		panic(err)
	}
	return b
}

// signRaw signs header.payload with key (SHA-256, r || s) whatever the
// header says: forgeries and odd headers for the seeds.
func signRaw(key *ecdsa.PrivateKey, header any, payload []byte) string {
	in := b64JSON(header) + "." + b64(payload)
	d := sha256.Sum256([]byte(in))
	r, s, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		panic(err)
	}
	n := (key.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	return in + "." + b64(sig)
}

// jwsSeeds are valid messages and the classic forgeries of both kinds.
func jwsSeeds() []string {
	pair, _ := deviceproto.SignPair(phoneKey, deviceproto.PairClaims{PairingToken: "tok", IssuedAt: 1733729102, DeviceName: "Phone"})
	step := 1
	req, _ := deviceproto.SignRequest(phoneKey, deviceproto.RequestClaims{CredID: credID, Challenge: "ch", Action: deviceproto.ActionAnswer, VerificationID: "v", Step: &step, IssuedAt: 1733729102,
		Answer: map[string]json.RawMessage{"number": json.RawMessage(`"42"`)}})
	reqPayload, _ := json.Marshal(deviceproto.RequestClaims{CredID: credID, Challenge: "ch", Action: "session", IssuedAt: 1})
	pairPayload, _ := json.Marshal(deviceproto.PairClaims{PairingToken: "tok", IssuedAt: 1})
	hs := func(typ string, kid string, payload []byte) string {
		in := b64JSON(map[string]any{"alg": "HS256", "typ": typ, "kid": kid}) + "." + b64(payload)
		m := hmac.New(sha256.New, jwkOf(phoneKey))
		m.Write([]byte(in))
		return in + "." + b64(m.Sum(nil))
	}
	p := strings.Split(req, ".")
	return []string{
		pair, req,
		signRaw(phoneKey, map[string]any{"alg": "ES256", "typ": deviceproto.TypRequest, "kid": credID}, reqPayload),
		signRaw(otherKey, map[string]any{"alg": "ES256", "typ": deviceproto.TypRequest, "kid": credID}, reqPayload),
		signRaw(p384Key, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": jwkOf(p384Key)}, pairPayload),
		signRaw(otherKey, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": jwkOf(phoneKey)}, pairPayload),
		signRaw(phoneKey, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AQ","y":"AQ"}`)}, pairPayload),
		signRaw(phoneKey, map[string]any{"alg": "ES256", "typ": deviceproto.TypPair, "jwk": jwkOf(phoneKey), "crit": []string{"b64"}, "b64": false}, pairPayload),
		b64JSON(map[string]any{"alg": "none", "typ": deviceproto.TypRequest, "kid": credID}) + "." + b64(reqPayload) + ".",
		hs(deviceproto.TypRequest, credID, reqPayload),
		hs(deviceproto.TypPair, "", pairPayload),
		p[0] + "." + b64(reqPayload) + "." + p[2], // swapped payload
		req[:len(req)-5], // truncated signature
		p[0] + "." + p[1],
		"..", "", "a.b.c.d.e", `{"protected":"","payload":"","signature":""}`,
	}
}

// verifiesES256 is an oracle independent of go-jose: whether the compact
// JWS's signature is a valid ES256 signature by pub of the bytes its header
// and payload decode to. go-jose (like most JOSE libraries) verifies the
// canonical base64url of the decoded header and payload, so a segment whose
// last character differs only in base64's unused low bits (…fX for …fQ)
// verifies too: the message still decodes to exactly the signed bytes, so
// the claims cannot change, and a replay is stopped by the single-use
// challenge, not by the JWS text (see testdata/fuzz/FuzzVerifyRequest).
func verifiesES256(compact string, pub *ecdsa.PublicKey) bool {
	p := strings.Split(compact, ".")
	if len(p) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(p[2])
	if err != nil || len(sig) != 64 {
		return false
	}
	h, err1 := base64.RawURLEncoding.DecodeString(p[0])
	pl, err2 := base64.RawURLEncoding.DecodeString(p[1])
	if err1 != nil || err2 != nil {
		return false
	}
	d := sha256.Sum256([]byte(b64(h) + "." + b64(pl)))
	return ecdsa.Verify(pub, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]))
}

// header decodes a compact JWS's protected header without go-jose.
func header(compact string) map[string]any {
	h, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// FuzzVerifyPair: never a panic; an accepted pairing message is ES256,
// carries a P-256 public key in its header, and that key's signature
// verifies (checked without go-jose); the returned thumbprint is the key's.
func FuzzVerifyPair(f *testing.F) {
	for _, s := range jwsSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, compact string) {
		claims, jwk, thumb, err := deviceproto.VerifyPair(compact)
		if err != nil {
			if claims != nil || jwk != nil || thumb != "" {
				t.Fatalf("refused (%v) but returned %v %v %q", err, claims, jwk, thumb)
			}
			return
		}
		h := header(compact)
		if h["alg"] != "ES256" || h["typ"] != deviceproto.TypPair {
			t.Fatalf("accepted a header %v", h)
		}
		pub, ok := jwk.Key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || !jwk.IsPublic() {
			t.Fatalf("accepted key %#v", jwk.Key)
		}
		if !verifiesES256(compact, pub) {
			t.Fatalf("accepted %q, whose signature does not verify with its key", compact)
		}
		if tp, err := deviceproto.Thumbprint(jwk); err != nil || tp != thumb {
			t.Fatalf("thumbprint %q, want %q (%v)", thumb, tp, err)
		}
	})
}

// FuzzKeyID: never a panic; a kid is returned only for an ES256 request
// message, and it is the header's kid.
func FuzzKeyID(f *testing.F) {
	for _, s := range jwsSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, compact string) {
		kid, err := deviceproto.KeyID(compact)
		if err != nil {
			if kid != "" {
				t.Fatalf("refused (%v) but returned kid %q", err, kid)
			}
			return
		}
		h := header(compact)
		if kid == "" || h["kid"] != kid || h["alg"] != "ES256" || h["typ"] != deviceproto.TypRequest {
			t.Fatalf("kid %q from header %v", kid, h)
		}
	})
}

// FuzzVerifyRequest: never a panic; a request is accepted only when its
// signature verifies with the stored key (checked without go-jose), its
// header is ES256 with the request typ, and the payload's cred_id is the
// kid.
func FuzzVerifyRequest(f *testing.F) {
	for _, s := range jwsSeeds() {
		f.Add(s)
	}
	stored := jwkOf(phoneKey)
	f.Fuzz(func(t *testing.T, compact string) {
		c, err := deviceproto.VerifyRequest(compact, stored)
		if err != nil {
			if c != nil {
				t.Fatalf("refused (%v) but returned claims", err)
			}
			return
		}
		h := header(compact)
		if h["alg"] != "ES256" || h["typ"] != deviceproto.TypRequest || h["kid"] != c.CredID {
			t.Fatalf("accepted header %v with cred_id %q", h, c.CredID)
		}
		if !verifiesES256(compact, &phoneKey.PublicKey) {
			t.Fatalf("accepted %q, which the stored key did not sign", compact)
		}
	})
}

// FuzzSignedRequestMutation signs fuzzed claims with the phone's key, then
// changes one byte of the message. The message as signed is accepted with
// the same claims; a changed one is refused, or (base64 has spare bits in
// its last character) decodes to exactly the bytes that were signed.
func FuzzSignedRequestMutation(f *testing.F) {
	f.Add(credID, "challenge", "answer", "verification", int64(1733729102), 2, []byte(`{"number":"42"}`), uint(10), byte('x'))
	f.Add("", "", "", "", int64(0), -1, []byte(`{}`), uint(0), byte(0))
	f.Add("../kid", "' OR 1=1 --", "deny", "{{.}}", int64(-1), 1<<30, []byte(`{"a":{"b":[1,2,3]}}`), uint(400), byte('.'))
	stored := jwkOf(phoneKey)
	f.Fuzz(func(t *testing.T, cred, challenge, action, vid string, iat int64, step int, answer []byte, pos uint, b byte) {
		for _, s := range []string{cred, challenge, action, vid} {
			if !utf8.ValidString(s) {
				return // JSON carries only text: encoding/json would change it
			}
		}
		c := deviceproto.RequestClaims{CredID: cred, Challenge: challenge, Action: action, VerificationID: vid, IssuedAt: iat, Step: &step}
		if json.Valid(answer) {
			var m map[string]json.RawMessage
			if json.Unmarshal(answer, &m) == nil {
				c.Answer = m
			}
		}
		jws, err := deviceproto.SignRequest(phoneKey, c)
		if err != nil {
			return // claims json cannot encode (never with these types)
		}
		got, err := deviceproto.VerifyRequest(jws, stored)
		if err != nil {
			t.Fatalf("a message signed by the stored key is refused: %v", err)
		}
		want, _ := json.Marshal(c)
		gotJSON, _ := json.Marshal(got)
		if !bytes.Equal(want, gotJSON) {
			t.Fatalf("claims changed: signed %s, verified %s", want, gotJSON)
		}
		i := int(pos % uint(len(jws)))
		if jws[i] == b {
			return
		}
		mutated := jws[:i] + string([]byte{b}) + jws[i+1:]
		got, err = deviceproto.VerifyRequest(mutated, stored)
		if err != nil {
			return
		}
		if !sameDecoded(jws, mutated) {
			t.Fatalf("a changed message is accepted: %q (was %q), claims %+v", mutated, jws, got)
		}
		if diff := cmp.Diff(&c, got); diff != "" {
			t.Fatalf("a changed message is accepted with other claims:\n%s", diff)
		}
	})
}

// sameDecoded reports whether two compact JWS decode to the same bytes in
// each of their three parts.
func sameDecoded(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	if len(pa) != 3 || len(pb) != 3 {
		return false
	}
	for i := range pa {
		da, err1 := base64.RawURLEncoding.DecodeString(pa[i])
		db, err2 := base64.RawURLEncoding.DecodeString(pb[i])
		if err1 != nil || err2 != nil || !bytes.Equal(da, db) {
			return false
		}
	}
	return true
}
