package tandem

import (
	"context"
	"encoding/json"
	"time"
)

// Verification ways of an application.
const (
	WayWeb    = "web"    // the user is sent a link and starts in a browser
	WayMobile = "mobile" // the application runs on the device side of a hand-over
)

// Mobile notification types.
const (
	NotifyQR   = "qr"
	NotifyPush = "push"
)

// DefaultLinkExpiry is the lifetime of a verification link when an
// application does not set link_expiry_s.
const DefaultLinkExpiry = 600

// WorkspaceDoc is the declarative description of a whole workspace: the
// document `tandem apply` reads and PUT /admin/v1/workspaces/{name} takes.
// Applying the same document twice changes nothing.
type WorkspaceDoc struct {
	Name         string             `json:"name"`
	Settings     *WorkspaceSettings `json:"settings,omitempty"`
	Applications []Application      `json:"applications"`
	Workflows    []Workflow         `json:"workflows"`
}

// WorkspaceSettings are a workspace's own settings.
type WorkspaceSettings struct {
	// LocationRetentionS, when set, is how long after a verification ends
	// its raw coordinates (the browser's and the phone's) are kept; then
	// they are purged, and the decision and the distance stay.
	LocationRetentionS int `json:"location_retention_s,omitempty"`
}

// Application is what an integrator calls: it has credentials, a way to reach
// the user, and exactly one attached workflow.
type Application struct {
	Name            string   `json:"name"`
	VerificationWay string   `json:"verification_way"`
	Workflow        string   `json:"workflow"`
	LinkExpiryS     int      `json:"link_expiry_s,omitempty"`
	RedirectURLs    []string `json:"redirect_urls,omitempty"`
	Mobile          *Mobile  `json:"mobile,omitempty"`
	// Gatepass is an optional CEL rule evaluated when a verification is
	// requested; when it is false the request is refused.
	Gatepass string `json:"gatepass,omitempty"`
	// WebhookURL, when set, receives a signed verification.finished
	// webhook (Standard Webhooks) for every verification of the
	// application that ends.
	WebhookURL string `json:"webhook_url,omitempty"`
	// CIBA is the application's OpenID CIBA registration; nil is poll
	// mode.
	CIBA *CIBASettings `json:"ciba,omitempty"`
	// RateLimit, when set, replaces the server's default limit on the
	// application's calls (the integrator API and CIBA together).
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
}

// RateLimit is an application's own limit on its calls: a token bucket
// that holds Burst requests and refills at RequestsPerSecond. A saved
// document always has Burst set (it defaults to three seconds' worth).
type RateLimit struct {
	RequestsPerSecond float64 `json:"requests_per_second"`
	Burst             int     `json:"burst,omitempty"`
}

// Mobile is an application's mobile configuration.
type Mobile struct {
	Notification string `json:"notification,omitempty"`
	Proximity    bool   `json:"proximity,omitempty"`
	PushTitle    string `json:"push_title,omitempty"`
	PushBody     string `json:"push_body,omitempty"`
}

// Workflow is an ordered list of module instances.
type Workflow struct {
	Name    string           `json:"name"`
	Modules []ModuleInstance `json:"modules"`
}

// ModuleInstance is one module in a workflow: the General fields every module
// has, and the module type's own Configs (decoded and validated by the module
// registry).
type ModuleInstance struct {
	Type        string          `json:"type"`
	DisplayName string          `json:"display_name"`
	Description string          `json:"description,omitempty"`
	Enabled     *bool           `json:"enabled,omitempty"`
	Rule        string          `json:"rule,omitempty"`
	Configs     json.RawMessage `json:"configs,omitempty"`
}

// IsEnabled reports whether the module runs; modules are enabled by default.
func (m ModuleInstance) IsEnabled() bool { return m.Enabled == nil || *m.Enabled }

// Application returns the named application of the document.
func (d *WorkspaceDoc) Application(name string) (*Application, bool) {
	for i := range d.Applications {
		if d.Applications[i].Name == name {
			return &d.Applications[i], true
		}
	}
	return nil, false
}

// Workflow returns the named workflow of the document.
func (d *WorkspaceDoc) Workflow(name string) (*Workflow, bool) {
	for i := range d.Workflows {
		if d.Workflows[i].Name == name {
			return &d.Workflows[i], true
		}
	}
	return nil, false
}

// Workspace is a stored workspace: its document plus bookkeeping.
type Workspace struct {
	Doc       WorkspaceDoc
	Version   int64 // increases by one with every change; used for optimistic concurrency
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Change is one line of what an apply did.
type Change struct {
	Action string `json:"action"` // "created", "changed" or "removed"
	Kind   string `json:"kind"`   // "workspace", "application" or "workflow"
	Name   string `json:"name"`
}

func (c Change) String() string { return c.Action + " " + c.Kind + " " + c.Name }

// ApplyResult tells what applying a document did.
type ApplyResult struct {
	Changes []Change `json:"changes"`
	Version int64    `json:"version"`
}

// AppRef identifies a stored application.
type AppRef struct {
	ID        string // stable, random; survives changes to the application
	Workspace string
	Name      string
	ClientID  string // empty until credentials are issued
}

// Credential is an issued client secret, shown once.
type Credential struct {
	ClientID     string
	ClientSecret string
	// PreviousValidUntil is when the secret this one replaced stops working;
	// zero when there was none.
	PreviousValidUntil time.Time
}

// AnyVersion disables the version check of WorkspaceStore.ApplyWorkspace.
const AnyVersion int64 = -1

// WorkspaceStore persists workspaces and application credentials.
type WorkspaceStore interface {
	// ListWorkspaces returns all workspaces ordered by name.
	ListWorkspaces(ctx context.Context) ([]Workspace, error)
	// GetWorkspace returns the named workspace or an ENOTFOUND error.
	GetWorkspace(ctx context.Context, name string) (*Workspace, error)
	// ApplyWorkspace makes the stored workspace equal to doc in one
	// transaction and reports what changed. The document must already be
	// valid. When ifVersion is not AnyVersion and differs from the stored
	// version (0 for a workspace that does not exist), it returns ECONFLICT
	// and changes nothing.
	ApplyWorkspace(ctx context.Context, doc WorkspaceDoc, ifVersion int64) (*ApplyResult, error)
	// DeleteWorkspace removes a workspace and everything it owns.
	DeleteWorkspace(ctx context.Context, name string) error

	// GetApplication returns the reference of an application.
	GetApplication(ctx context.Context, workspace, app string) (*AppRef, error)
	// PutSecret stores a new secret hash for the application, creating its
	// client id on the first call. Earlier secrets that are still valid stop
	// being valid at graceUntil.
	PutSecret(ctx context.Context, appID, clientID string, secretHash []byte, now, graceUntil time.Time) error
	// ApplicationByClientID returns the application and the hashes of its
	// secrets that are valid at now, or ENOTFOUND.
	ApplicationByClientID(ctx context.Context, clientID string, now time.Time) (*AppRef, [][]byte, error)

	// Setting and PutSetting store server-wide values such as the admin
	// token hash. Setting returns ENOTFOUND when the key is unset.
	Setting(ctx context.Context, key string) ([]byte, error)
	PutSetting(ctx context.Context, key string, value []byte) error
}
