package engine

import (
	"context"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
)

// Revoke revokes the credential of the device that signs the request
// (action "revoke", no verification_id): the device removes itself, as an
// administrator's revoke-device does. Its push registration is cleared so
// nothing is sent to it any more, and the revocation is audited as
// device.revoked with actor "device". Afterwards every request of the
// credential is refused (device_revoked; unknown_credential for
// /challenge). A challenge bound to a verification is refused as
// wrong_verification: sign with one from /challenge or the inbox. The
// errors are those of every signed request.
func (e *Engine) Revoke(ctx context.Context, compact, addr string) (*deviceproto.RevokeResponse, error) {
	claims, dev, err := e.authenticate(ctx, compact, addr, deviceproto.ActionRevoke)
	if err != nil {
		return nil, err
	}
	if claims.VerificationID != "" || claims.Step != nil || len(claims.Answer) > 0 || claims.Push != nil {
		return nil, e.deviceRefusal(ctx, nil, dev.CredID, addr, tandem.Refusef(tandem.EINVALID, "bad_request", "A revoke request carries only cred_id, challenge, action and iat."))
	}
	now := e.Now()
	dev.State, dev.RevokedAt, dev.UpdatedAt, dev.LastSeenAt = tandem.DeviceRevoked, now, now, now
	dev.PushType, dev.PushToken = "", ""
	c := tandem.Commit{Devices: []*tandem.Device{dev}, Audit: []tandem.AuditEvent{
		e.audit(dev.Workspace, "", tandem.ActorDevice, "device.revoked", addr, now, map[string]any{"cred_id": dev.CredID, "user_id": dev.UserID}),
	}}
	if err := e.commit(ctx, c); err != nil {
		return nil, err
	}
	return &deviceproto.RevokeResponse{CredID: dev.CredID, State: tandem.DeviceRevoked, RevokedAt: now.Unix()}, nil
}
