package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
)

func TestDeviceAdministration(t *testing.T) {
	f := newFixture(t)
	f.applyExample(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dev := &tandem.Device{CredID: "0123456789abcdef0123456789abcdef", Workspace: "acme", UserID: "mark@gmail.com", Name: "Pixel", Platform: "android",
		PublicKey: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"x","y":"y"}`), Thumbprint: "tp", State: tandem.DeviceActive, CreatedAt: now, UpdatedAt: now}
	if err := f.db.Commit(t.Context(), tandem.Commit{Devices: []*tandem.Device{dev}}); err != nil {
		t.Fatal(err)
	}
	w := f.do(t, http.MethodGet, "/admin/v1/workspaces/acme/users/mark@gmail.com/devices", "")
	var list []map[string]any
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &list) != nil || len(list) != 1 || list[0]["state"] != "active" || list[0]["web_2_device_cred_id"] != dev.CredID {
		t.Fatalf("list: %d %s", w.Code, w.Body)
	}
	if w := f.do(t, http.MethodGet, "/admin/v1/workspaces/nope/users/mark@gmail.com/devices", ""); w.Code != 404 {
		t.Errorf("list in unknown workspace: %d, want 404", w.Code)
	}
	if w := f.do(t, http.MethodPost, "/admin/v1/workspaces/other/devices/"+dev.CredID+"/revoke", ""); w.Code != 404 {
		t.Errorf("revoke through another workspace: %d, want 404", w.Code)
	}
	w = f.do(t, http.MethodPost, "/admin/v1/workspaces/acme/devices/"+dev.CredID+"/revoke", "")
	if w.Code != 200 {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	got, err := f.db.GetDevice(t.Context(), dev.CredID)
	if err != nil || got.State != tandem.DeviceRevoked || got.RevokedAt.IsZero() {
		t.Errorf("stored device after revoke: %+v %v", got, err)
	}
	audit, _ := f.db.ListAudit(t.Context(), "")
	if len(audit) == 0 || audit[len(audit)-1].Action != "device.revoked" {
		t.Errorf("revocation not audited: %+v", audit)
	}
}
