package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tandem-id/tandem"
)

// DeviceOut is a registered (or pending, or revoked) device.
type DeviceOut struct {
	CredID     string     `json:"web_2_device_cred_id"`
	UserID     string     `json:"user_id"`
	Name       string     `json:"name,omitempty"`
	Platform   string     `json:"platform,omitempty"`
	State      string     `json:"state" enum:"pending,active,revoked"`
	PushType   string     `json:"push_type,omitempty"`
	Thumbprint string     `json:"key_thumbprint" doc:"RFC 7638 SHA-256 thumbprint of the device's public key."`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt *time.Time `json:"last_seen_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

func deviceOut(d *tandem.Device) DeviceOut {
	return DeviceOut{CredID: d.CredID, UserID: d.UserID, Name: d.Name, Platform: d.Platform, State: d.State, PushType: d.PushType,
		Thumbprint: d.Thumbprint, CreatedAt: d.CreatedAt, LastSeenAt: optTime(d.LastSeenAt), RevokedAt: optTime(d.RevokedAt)}
}

func (s *Server) registerDevices() {
	tags := []string{"admin"}
	sec := []map[string][]string{{"admin": {}}}
	huma.Register(s.api, huma.Operation{
		OperationID: "list-user-devices", Method: http.MethodGet, Path: "/admin/v1/workspaces/{workspace}/users/{user_id}/devices",
		Summary: "List a user's devices", Tags: tags, Security: sec,
	}, func(ctx context.Context, in *struct {
		Workspace string `path:"workspace" maxLength:"63"`
		UserID    string `path:"user_id" maxLength:"256"`
	}) (*body[[]DeviceOut], error) {
		if _, err := s.Workspaces.GetWorkspace(ctx, in.Workspace); err != nil {
			return nil, s.problem(ctx, err)
		}
		devs, err := s.Devices.ListDevices(ctx, in.Workspace, in.UserID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := make([]DeviceOut, 0, len(devs))
		for i := range devs {
			out = append(out, deviceOut(&devs[i]))
		}
		return &body[[]DeviceOut]{Body: out}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "revoke-device", Method: http.MethodPost, Path: "/admin/v1/workspaces/{workspace}/devices/{cred_id}/revoke",
		Summary:     "Revoke a device",
		Description: "A revoked device can no longer pair, answer or read its inbox. Revoking is final; the device must pair again as a new device.",
		Tags:        tags, Security: sec,
	}, func(ctx context.Context, in *struct {
		Workspace string `path:"workspace" maxLength:"63"`
		CredID    string `path:"cred_id" maxLength:"64"`
	}) (*body[DeviceOut], error) {
		d, err := s.Devices.GetDevice(ctx, in.CredID)
		if err != nil || d.Workspace != in.Workspace {
			if err == nil || tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return nil, s.problem(ctx, tandem.Errorf(tandem.ENOTFOUND, "Device %q not found in workspace %q.", in.CredID, in.Workspace))
			}
			return nil, s.problem(ctx, err)
		}
		if d.State != tandem.DeviceRevoked {
			now := s.Now()
			d.State, d.RevokedAt, d.UpdatedAt = tandem.DeviceRevoked, now, now
			detail, _ := json.Marshal(map[string]string{"cred_id": d.CredID, "user_id": d.UserID})
			ev := tandem.AuditEvent{Workspace: d.Workspace, Actor: tandem.ActorAdmin, Action: "device.revoked", Detail: detail, Addr: clientAddr(ctx), At: now}
			if err := s.Devices.Commit(ctx, tandem.Commit{Devices: []*tandem.Device{d}, Audit: []tandem.AuditEvent{ev}}); err != nil {
				return nil, s.problem(ctx, err)
			}
		}
		return &body[DeviceOut]{Body: deviceOut(d)}, nil
	})
}
