package tandem

import (
	"context"
	"time"
)

// CIBA token delivery modes (OpenID Connect Client-Initiated Backchannel
// Authentication Core 1.0 §5).
const (
	CIBAPoll = "poll" // the client polls the token endpoint
	CIBAPing = "ping" // the client is told when to call the token endpoint
	CIBAPush = "push" // the tokens are sent to the client
)

// CIBASettings is an application's OpenID CIBA registration: how its
// clients get the result of a backchannel authentication request.
type CIBASettings struct {
	// DeliveryMode is CIBAPoll (the default), CIBAPing or CIBAPush.
	DeliveryMode string `json:"delivery_mode,omitempty"`
	// NotificationEndpoint is where ping notifications and pushed tokens
	// are POSTed; required for ping and push, not allowed for poll.
	NotificationEndpoint string `json:"notification_endpoint,omitempty"`
}

// Mode returns the delivery mode of s, CIBAPoll when s is nil or sets
// none.
func (s *CIBASettings) Mode() string {
	if s == nil || s.DeliveryMode == "" {
		return CIBAPoll
	}
	return s.DeliveryMode
}

// CIBARequest is a backchannel authentication request: the auth_req_id a
// client was given for one verification, kept by its hash.
type CIBARequest struct {
	// IDHash is the SHA-256 of the auth_req_id.
	IDHash         []byte
	Workspace      string
	AppID          string
	Application    string
	ClientID       string
	VerificationID string
	// DeliveryMode and NotificationEndpoint are the application's as they
	// were when the request was made.
	DeliveryMode         string
	NotificationEndpoint string
	// NotificationToken (the client_notification_token) and AuthReqID are
	// kept only for ping and push, sealed by the caller: a notification
	// carries them in clear.
	NotificationToken []byte
	AuthReqID         []byte
	// IntervalS is the least number of seconds between two polls; it grows
	// by 5 with every poll that comes too early (slow_down).
	IntervalS  int
	LastPollAt time.Time
	ExpiresAt  time.Time
	CreatedAt  time.Time
	// ConsumedAt is when the tokens were issued (or, in push mode, the
	// result sent); zero until then. An auth_req_id is consumed once.
	ConsumedAt time.Time
	// AccessHash is the SHA-256 of the access token issued for the
	// request, valid until AccessExpiresAt; nil when none was issued.
	AccessHash      []byte
	AccessExpiresAt time.Time
}

// CIBAGrant consumes a CIBA request: it records that its result was given
// out, with the hash of the access token issued (nil for none).
type CIBAGrant struct {
	IDHash          []byte
	AccessHash      []byte
	AccessExpiresAt time.Time
	At              time.Time
}

// CIBAStore keeps backchannel authentication requests. Grants can also be
// stored by DeviceStore.Commit, in the transaction that ends a verification.
type CIBAStore interface {
	// CreateCIBARequest stores a new request. EINVALID when a field is
	// missing; ENOTFOUND when its workspace or verification does not
	// exist; ECONFLICT when its hash or its verification is taken.
	CreateCIBARequest(ctx context.Context, r CIBARequest) error
	// CIBARequest returns the request whose IDHash is idHash, or
	// ENOTFOUND.
	CIBARequest(ctx context.Context, idHash []byte) (*CIBARequest, error)
	// CIBARequestByVerification returns the request of a verification, or
	// ENOTFOUND.
	CIBARequestByVerification(ctx context.Context, verificationID string) (*CIBARequest, error)
	// CIBARequestByAccessToken returns the request whose AccessHash is
	// accessHash, whatever its expiry, or ENOTFOUND.
	CIBARequestByAccessToken(ctx context.Context, accessHash []byte) (*CIBARequest, error)
	// PollCIBA records a poll of the request at now, atomically. A poll
	// sooner than IntervalS after the previous one is too early: the
	// interval grows by 5 seconds. It returns whether the poll was too
	// early and the interval now in force; ENOTFOUND for an unknown
	// request.
	PollCIBA(ctx context.Context, idHash []byte, now time.Time) (tooEarly bool, intervalS int, err error)
	// GrantCIBA consumes a request. ECONFLICT when it was consumed
	// already; ENOTFOUND when there is no such request.
	GrantCIBA(ctx context.Context, g CIBAGrant) error
}
