package deviceproto

// ActionRevoke is the action of a request by which a device revokes its
// own credential ("remove this device"); it carries no verification_id.
const ActionRevoke = "revoke"

// RevokeResponse answers POST /device/v1/revoke: the credential that is
// now revoked and when. Every later request signed for it is refused with
// device_revoked.
type RevokeResponse struct {
	CredID    string `json:"cred_id"`
	State     string `json:"state"`
	RevokedAt int64  `json:"revoked_at"`
}
