// Package webpush sends push notifications with the Web Push protocol
// (RFC 8030): each message is encrypted for the subscribing browser or app
// (RFC 8291, with the aes128gcm content coding of RFC 8188) and the server
// identifies itself to the push service with VAPID (RFC 8292). It uses the
// Go standard library only for the cryptography.
package webpush

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tandem-id/tandem/deviceproto"
)

// Subscription is a push subscription as the browser gives it
// (PushSubscription.toJSON()): the endpoint to POST to and the keys that
// messages are encrypted for. It is the token of a device's "webpush" push
// registration.
type Subscription = deviceproto.WebPushSubscription

// Keys are a subscription's p256dh and auth, base64url.
type Keys = deviceproto.WebPushKeys

// ParseSubscription parses a device's webpush token (the subscription's
// JSON) and checks its endpoint and keys; it does not require https.
func ParseSubscription(token string) (Subscription, error) {
	s, err := deviceproto.ParseWebPushSubscription(token)
	if err != nil {
		return Subscription{}, err
	}
	return *s, nil
}

// Sizes of the aes128gcm encoding of a push message (RFC 8188, RFC 8291).
const (
	// RecordSize is the record size written in the header; a message is
	// one record.
	RecordSize = 4096
	saltLen    = 16
	keyLen     = 65 // an uncompressed P-256 point
	headerLen  = saltLen + 4 + 1 + keyLen
	tagLen     = 16
	// MaxPlaintext is the longest message: push services need accept no
	// body longer than 4096 bytes, which leaves this much after the
	// header, the padding delimiter and the tag (RFC 8291 section 4).
	MaxPlaintext = RecordSize - headerLen - 1 - tagLen
)

// EncryptOptions are the per-message secrets of Encrypt. Their zero value
// draws fresh ones, which every real message must use; tests set them to
// reproduce known messages.
type EncryptOptions struct {
	// PrivateKey is the application server's ephemeral ECDH key (P-256);
	// nil generates one.
	PrivateKey *ecdh.PrivateKey
	// Salt is the 16-byte salt; nil draws one.
	Salt []byte
}

// Encrypt encrypts plaintext for sub as RFC 8291 says, with the aes128gcm
// content coding: the body is the salt, the record size (4096), the
// length and bytes of the application server's ephemeral public key, then
// one record: the AES-128-GCM encryption of plaintext followed by the
// padding delimiter 0x02. Plaintext longer than MaxPlaintext is refused.
func Encrypt(sub Subscription, plaintext []byte, opts EncryptOptions) ([]byte, error) {
	if len(plaintext) > MaxPlaintext {
		return nil, fmt.Errorf("web push: the message is %d bytes, longer than %d", len(plaintext), MaxPlaintext)
	}
	uaPub, auth, err := sub.DecodeKeys()
	if err != nil {
		return nil, err
	}
	as := opts.PrivateKey
	if as == nil {
		if as, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
			return nil, fmt.Errorf("web push: generate ephemeral key: %w", err)
		}
	} else if as.Curve() != ecdh.P256() {
		return nil, errors.New("web push: the ephemeral key must be a P-256 key")
	}
	salt := opts.Salt
	if salt == nil {
		salt = make([]byte, saltLen)
		rand.Read(salt) // never fails
	} else if len(salt) != saltLen {
		return nil, fmt.Errorf("web push: the salt must be %d bytes, not %d", saltLen, len(salt))
	}
	shared, err := as.ECDH(uaPub)
	if err != nil {
		return nil, fmt.Errorf("web push: ECDH: %w", err)
	}
	asPub := as.PublicKey().Bytes()

	// RFC 8291 section 3.4: IKM from the ECDH secret, salted with the
	// auth secret and bound to both public keys.
	keyInfo := "WebPush: info\x00" + string(uaPub.Bytes()) + string(asPub)
	ikm, err := hkdf.Key(sha256.New, shared, auth, keyInfo, 32)
	if err != nil {
		return nil, err
	}
	// RFC 8188 section 2.2 and 2.3: the content encryption key and nonce.
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}

	out := make([]byte, 0, headerLen+len(plaintext)+1+tagLen)
	out = append(out, salt...)
	out = binary.BigEndian.AppendUint32(out, RecordSize)
	out = append(out, byte(len(asPub)))
	out = append(out, asPub...)
	record := make([]byte, 0, len(plaintext)+1)
	record = append(append(record, plaintext...), 0x02) // the last (only) record's delimiter, no padding
	// The only record has sequence number 0: its nonce is the derived one.
	return gcm.Seal(out, nonce, record, nil), nil
}
