package tandem

import (
	"context"
	"time"
)

// Outbox item kinds.
const (
	OutboxWebhook  = "webhook"   // a Standard Webhooks POST to an application's webhook_url
	OutboxCIBAPing = "ciba_ping" // a CIBA ping notification ({"auth_req_id"}), with a bearer token
	OutboxCIBAPush = "ciba_push" // a CIBA push of tokens or of an error, with a bearer token
)

// Outbox item states.
const (
	OutboxPending   = "pending"   // waiting for its next attempt (or being attempted)
	OutboxDelivered = "delivered" // the receiver answered 2xx
	OutboxDead      = "dead"      // refused, or failed too many times; see LastError
)

// OutboxItem is a message that a commit enqueued and a dispatcher delivers
// afterwards, at least once: the transactional outbox. An item is written
// in the same transaction as the change it reports, so a change is never
// stored without its message, nor a message sent for a change that was not.
type OutboxItem struct {
	// ID is "msg_" followed by 128 random bits in hex. It is the
	// webhook-id: the same for every attempt, so that receivers can
	// deduplicate.
	ID             string
	Kind           string
	Workspace      string
	Application    string
	VerificationID string
	URL            string
	// Payload is the body to send, byte for byte on every attempt.
	Payload []byte
	// Bearer is the token a CIBA notification is sent with ("Authorization:
	// Bearer"), sealed by the caller; nil for webhooks, which are signed.
	Bearer []byte
	Status string
	// Attempts counts the times the item was claimed for delivery.
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	DeliveredAt   time.Time
}

// NewMessageID returns a new outbox item id: "msg_" and 128 bits from
// crypto/rand in hex.
func NewMessageID() string { return "msg_" + NewID() }

// OutboxStore keeps the outbox. Items are added by DeviceStore.Commit.
type OutboxStore interface {
	// ClaimDue leases up to limit pending items due at or before now,
	// the longest due first: each gets one more attempt and its next
	// attempt moves to now+lease, so that no other dispatcher claims it
	// while it is being sent. An item whose dispatcher stops before
	// marking it is claimed again once the lease is over.
	ClaimDue(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxItem, error)
	// MarkDelivered records that the receiver accepted the item.
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	// MarkFailed records a failed attempt of a pending item and when to
	// try again.
	MarkFailed(ctx context.Context, id, lastError string, next time.Time) error
	// MarkDead gives up on a pending item.
	MarkDead(ctx context.Context, id, lastError string) error
	// ListDead returns the dead items of a workspace, newest first.
	ListDead(ctx context.Context, workspace string) ([]OutboxItem, error)
	// Redeliver makes a dead item of a workspace pending again, due at
	// now, with no attempts; a non-empty url replaces its URL.
	Redeliver(ctx context.Context, workspace, id, url string, now time.Time) (*OutboxItem, error)
}

// WebhookSecretStore keeps the secrets that sign an application's
// webhooks. The signature is an HMAC, so a secret must be readable, not
// hashed: the store keeps the bytes it is given, which the caller may have
// encrypted.
type WebhookSecretStore interface {
	// PutWebhookSecret stores a new secret of the application appID,
	// valid from now; earlier secrets stop being valid at graceUntil.
	PutWebhookSecret(ctx context.Context, appID string, secret []byte, now, graceUntil time.Time) error
	// WebhookSecrets returns the secrets of an application that are
	// valid at now, newest first.
	WebhookSecrets(ctx context.Context, workspace, app string, now time.Time) ([][]byte, error)
}
