package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Names of the bench workspace's applications: the web application of
// each flow kind, and the mobile application the full flow hands over to.
const (
	AppFull   = "bench-full"
	AppWeb    = "bench-web"
	AppMobile = "bench-mobile"
)

// SetupOptions configure the bench workspace.
type SetupOptions struct {
	// Workspace is the workspace's name ("bench" when empty).
	Workspace string
	// AdminToken is the admin API's bearer token.
	AdminToken string
	// WebhookURL, when set, is the webhook_url of the web applications.
	WebhookURL string
	// RateLimit, when positive, is given to every bench application as
	// its rate_limit (requests per second; the burst is the same number).
	// A server that does not know per-application rate limits refuses
	// the field; the workspace is then applied without it.
	RateLimit int
	// LinkExpiryS, when positive, is the web applications' link_expiry_s
	// (60 to 86400; the server's default, 600, when 0).
	LinkExpiryS int
	// HTTP is the client for the admin calls (a plain one when nil).
	HTTP *http.Client
}

// Workspace returns the bench workspace document: the two-application
// pattern of examples/workspace.json (a web application whose workflow is
// an Aadhaar step and a hand-over by QR code with number prompt, and a
// mobile application whose workflow is the number prompt and proximity),
// plus a web application of web steps only (Aadhaar, PAN).
func Workspace(o SetupOptions) map[string]any {
	app := func(name, way, workflow string) map[string]any {
		a := map[string]any{"name": name, "verification_way": way, "workflow": workflow}
		if way == "web" && o.WebhookURL != "" {
			a["webhook_url"] = o.WebhookURL
		}
		if way == "web" && o.LinkExpiryS > 0 {
			a["link_expiry_s"] = o.LinkExpiryS
		}
		if o.RateLimit > 0 {
			a["rate_limit"] = map[string]any{"requests_per_second": o.RateLimit, "burst": o.RateLimit}
		}
		return a
	}
	mobile := app(AppMobile, "mobile", "bench-phone")
	mobile["mobile"] = map[string]any{"notification": "qr", "proximity": true}
	return map[string]any{
		"name": o.workspace(),
		"applications": []any{
			app(AppFull, "web", "bench-full"),
			mobile,
			app(AppWeb, "web", "bench-web"),
		},
		"workflows": []any{
			map[string]any{"name": "bench-full", "modules": []any{
				map[string]any{"type": "verify_aadhaar", "display_name": "Aadhaar"},
				map[string]any{"type": "web_to_device", "display_name": "Continue on your phone",
					"configs": map[string]any{"device_application": AppMobile, "number_prompt": true}},
			}},
			map[string]any{"name": "bench-phone", "modules": []any{
				map[string]any{"type": "number_prompt", "display_name": "Match the number"},
				map[string]any{"type": "proximity", "display_name": "Are you near your computer?", "configs": map[string]any{"distance_m": 200}},
			}},
			map[string]any{"name": "bench-web", "modules": []any{
				map[string]any{"type": "verify_aadhaar", "display_name": "Aadhaar"},
				map[string]any{"type": "verify_pan", "display_name": "PAN"},
			}},
		},
	}
}

func (o SetupOptions) workspace() string {
	if o.Workspace == "" {
		return "bench"
	}
	return o.Workspace
}

// Setup applies the bench workspace through the admin API (idempotent: a
// second run changes nothing) and issues a new client secret for each web
// application (the previous one keeps working for the server's grace
// period). It returns the target of the flows and a note for the operator
// ("" when there is none).
func Setup(ctx context.Context, base *url.URL, o SetupOptions) (*Target, string, error) {
	hc := o.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	ws := o.workspace()
	admin := func(method, path string, body any) (int, []byte, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base.String()+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+o.AdminToken)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
		return resp.StatusCode, b, err
	}
	var note string
	status, body, err := admin(http.MethodPut, "/admin/v1/workspaces/"+url.PathEscape(ws), Workspace(o))
	if err == nil && status >= 400 && status < 500 && o.RateLimit > 0 && strings.Contains(string(body), "rate_limit") {
		// A server without per-application rate limits.
		note = "the server does not take per-application rate limits (rate_limit); the bench workspace is applied without them"
		o.RateLimit = 0
		status, body, err = admin(http.MethodPut, "/admin/v1/workspaces/"+url.PathEscape(ws), Workspace(o))
	}
	if err != nil {
		return nil, "", fmt.Errorf("apply the bench workspace: %w", err)
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return nil, "", fmt.Errorf("apply the bench workspace: the admin token was refused (HTTP %d); give the server's admin token with -admin-token", status)
	}
	if status != http.StatusOK {
		return nil, "", fmt.Errorf("apply the bench workspace: HTTP %d: %s", status, body)
	}
	t := &Target{Base: base, Apps: map[string]Credentials{}}
	for kind, app := range map[string]string{KindFull: AppFull, KindWeb: AppWeb} {
		status, body, err := admin(http.MethodPost, "/admin/v1/workspaces/"+url.PathEscape(ws)+"/applications/"+app+"/secrets", nil)
		if err != nil {
			return nil, "", fmt.Errorf("issue a client secret for %s: %w", app, err)
		}
		if status != http.StatusCreated {
			return nil, "", fmt.Errorf("issue a client secret for %s: HTTP %d: %s", app, status, body)
		}
		var cred struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		if err := json.Unmarshal(body, &cred); err != nil || cred.ClientID == "" || cred.ClientSecret == "" {
			return nil, "", fmt.Errorf("issue a client secret for %s: unexpected answer %s", app, body)
		}
		t.Apps[kind] = Credentials{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret}
	}
	return t, note, nil
}
