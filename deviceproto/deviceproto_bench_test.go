package deviceproto_test

import (
	"encoding/json"
	"testing"

	"github.com/tandem-id/tandem/deviceproto"
)

// benchRequest is an answer as a phone sends it: a number prompt pick.
func benchRequest(b *testing.B) string {
	step := 1
	jws, err := deviceproto.SignRequest(phoneKey, deviceproto.RequestClaims{
		CredID: credID, Challenge: "Vq3l8Qv2cU1a7bC0yZ9xW4t6s5r2p1o0n9m8l7k6j5i", Action: deviceproto.ActionAnswer,
		VerificationID: "6f1c1d8e-3b0a-4c55-9a8e-2f1d3c4b5a69", Step: &step, IssuedAt: 1733729102,
		Answer: map[string]json.RawMessage{"number": json.RawMessage(`"42"`)},
	})
	if err != nil {
		b.Fatal(err)
	}
	return jws
}

// BenchmarkVerifyRequest measures what the server does for every signed
// device request: parse the compact JWS, check alg and typ, load the stored
// JWK, verify the ES256 signature and decode the claims.
func BenchmarkVerifyRequest(b *testing.B) {
	jws := benchRequest(b)
	stored := jwkOf(phoneKey)
	for b.Loop() {
		c, err := deviceproto.VerifyRequest(jws, stored)
		if err != nil || c.CredID != credID {
			b.Fatalf("VerifyRequest: %v", err)
		}
	}
}

// BenchmarkKeyID measures reading the kid of a request before its device
// is looked up (a JWS parse without verification).
func BenchmarkKeyID(b *testing.B) {
	jws := benchRequest(b)
	for b.Loop() {
		if _, err := deviceproto.KeyID(jws); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPair measures verifying a pairing message: the key comes
// from the header, so it is parsed and checked too, and its thumbprint
// computed.
func BenchmarkVerifyPair(b *testing.B) {
	jws, err := deviceproto.SignPair(phoneKey, deviceproto.PairClaims{PairingToken: "Vq3l8Qv2cU1a7bC0yZ9xW4t6s5r2p1o0n9m8l7k6j5i", IssuedAt: 1733729102, DeviceName: "Pixel 8", Platform: "android"})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, _, err := deviceproto.VerifyPair(jws); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignRequest measures the phone's side, for reference: the
// in-process flow benchmark of the engine signs three messages per flow.
func BenchmarkSignRequest(b *testing.B) {
	step := 1
	c := deviceproto.RequestClaims{CredID: credID, Challenge: "challenge", Action: deviceproto.ActionAnswer, VerificationID: "v", Step: &step, IssuedAt: 1733729102,
		Answer: map[string]json.RawMessage{"number": json.RawMessage(`"42"`)}}
	for b.Loop() {
		if _, err := deviceproto.SignRequest(phoneKey, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRequestParallel runs the verification on every core.
func BenchmarkVerifyRequestParallel(b *testing.B) {
	jws := benchRequest(b)
	stored := jwkOf(phoneKey)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := deviceproto.VerifyRequest(jws, stored); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
