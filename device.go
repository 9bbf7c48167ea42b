package tandem

import (
	"context"
	"encoding/json"
	"time"
)

// Device states.
const (
	DevicePending = "pending" // paired during a hand-over, not registered yet
	DeviceActive  = "active"  // registered to its user
	DeviceRevoked = "revoked" // no longer accepted
)

// Device is a phone (or the command-line authenticator) holding a P-256 key
// pair whose private half never leaves it.
type Device struct {
	// CredID is the credential id (web_2_device_cred_id): 128 random bits
	// as 32 hex characters, assigned when the device first pairs.
	CredID    string
	Workspace string
	UserID    string
	Name      string
	Platform  string
	// PublicKey is the device's public key as a JWK (JSON); Thumbprint is
	// its RFC 7638 SHA-256 thumbprint, base64url.
	PublicKey  json.RawMessage
	Thumbprint string
	State      string
	PushType   string // "", "webpush" or "fcm"
	PushToken  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastSeenAt time.Time
	RevokedAt  time.Time
}

// Pairing is a single-use token that lets a device join the hand-over of
// one verification step; the QR code carries it.
type Pairing struct {
	Hash           []byte // SHA-256 of the token
	VerificationID string
	Step           int
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// Challenge is a single-use server nonce a device signs into its next
// request.
type Challenge struct {
	Value          string
	CredID         string
	VerificationID string // "" when not bound to a verification yet
	ExpiresAt      time.Time
}

// InboxItem is a push-mode prompt waiting in a device's inbox.
type InboxItem struct {
	ID             int64
	CredID         string
	VerificationID string
	Step           int
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// Commit is a set of changes stored in one transaction.
type Commit struct {
	// Verification, when set, is updated as by UpdateVerification (the
	// version must match; it is incremented on success).
	Verification *Verification
	// Devices are inserted or updated, by CredID.
	Devices []*Device
	// RevokeOthers revokes every active device of (Workspace, UserID)
	// except KeepCredID.
	RevokeOthers *RevokeOthers
	// Withdraw removes every inbox item of this verification id.
	Withdraw string
	// Inbox items to add.
	Inbox []InboxItem
	// UserEvents are appended to the per-user history that limits are
	// computed from (failures, denials, pushes).
	UserEvents []UserEvent
	Audit      []AuditEvent
	// Outbox items are enqueued for delivery once the commit succeeds.
	Outbox []OutboxItem
	// CIBAGrants consume CIBA requests (see CIBAStore.GrantCIBA).
	CIBAGrants []CIBAGrant

	// UsePairing, when set, uses up a pairing token first, as UsePairing
	// does, except that an expired token fails the commit (EGONE) and,
	// like every failure, leaves it unused: a request that must use up its
	// token whatever the outcome uses it up by a write of its own then.
	UsePairing *PairingUse
	// UseChallenge, when set, consumes a challenge first, as UseChallenge
	// does, except that an expired challenge fails the commit (EGONE) and,
	// like every failure, leaves it unused.
	UseChallenge *ChallengeUse
	// Challenges are stored as by CreateChallenge (the challenges a device
	// gets for its next request), after everything else.
	Challenges []Challenge
}

// PairingUse names the pairing token a Commit uses up.
type PairingUse struct {
	Hash []byte // SHA-256 of the token
	At   time.Time
}

// ChallengeUse names the challenge of a device a Commit consumes.
type ChallengeUse struct {
	Value  string
	CredID string
	At     time.Time
}

// User event kinds.
const (
	UserPromptFailure = "prompt_failure" // a number prompt failed (wrong pick or timeout)
	UserDenied        = "denied"         // "this wasn't me"
	UserPushed        = "pushed"         // prompts were pushed to the user's phones
	UserAnswered      = "answered"       // a phone took a pushed prompt
)

// UserEvent is one entry of a user's history.
type UserEvent struct {
	Workspace      string
	UserID         string
	Kind           string
	VerificationID string
	At             time.Time
}

// RevokeOthers names the devices a Commit revokes.
type RevokeOthers struct {
	Workspace, UserID, KeepCredID string
	At                            time.Time
}

// DeviceStore persists devices, pairings, challenges and inboxes.
type DeviceStore interface {
	// Commit stores c in one transaction; ECONFLICT (and nothing written)
	// when c.Verification's version is stale.
	Commit(ctx context.Context, c Commit) error

	// GetDevice returns a device by credential id, or ENOTFOUND.
	GetDevice(ctx context.Context, credID string) (*Device, error)
	// DeviceByThumbprint returns the device of a workspace with this key
	// thumbprint, or ENOTFOUND.
	DeviceByThumbprint(ctx context.Context, workspace, thumbprint string) (*Device, error)
	// ListDevices returns the devices of a user, newest first.
	ListDevices(ctx context.Context, workspace, userID string) ([]Device, error)

	// CreatePairing stores a pairing token.
	CreatePairing(ctx context.Context, p Pairing) error
	// UsePairing marks a pairing token used and returns it. A token is
	// used at most once: an unknown or already used token is ENOTFOUND,
	// an expired one EGONE (and is used up all the same).
	UsePairing(ctx context.Context, hash []byte, now time.Time) (*Pairing, error)

	// PeekPairing returns the unused pairing token with this hash without
	// using it: ENOTFOUND when there is none, EGONE when it expired (it
	// stays unused; UsePairing uses it up).
	PeekPairing(ctx context.Context, hash []byte, now time.Time) (*Pairing, error)

	// CreateChallenge stores a challenge.
	CreateChallenge(ctx context.Context, c Challenge) error
	// UseChallenge consumes a challenge of credID and returns it. An
	// unknown, foreign or used challenge is ENOTFOUND; an expired one is
	// EGONE.
	UseChallenge(ctx context.Context, value, credID string, now time.Time) (*Challenge, error)
	// PeekChallenge returns the unused challenge value of credID without
	// consuming it: ENOTFOUND as for UseChallenge, EGONE when it expired
	// (it stays unused; UseChallenge uses it up).
	PeekChallenge(ctx context.Context, value, credID string, now time.Time) (*Challenge, error)

	// Inbox returns the unexpired inbox items of a device, oldest first.
	Inbox(ctx context.Context, credID string, now time.Time) ([]InboxItem, error)
	// UserInbox returns the unexpired inbox items of every device of a
	// user, oldest first.
	UserInbox(ctx context.Context, workspace, userID string, now time.Time) ([]InboxItem, error)

	// CountUserEvents returns how many events of kind a user has at or
	// after since, and the time of the latest one (zero when none).
	CountUserEvents(ctx context.Context, workspace, userID, kind string, since time.Time) (int, time.Time, error)
}
