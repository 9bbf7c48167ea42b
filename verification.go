package tandem

import (
	"context"
	"encoding/json"
	"time"
)

// Status is the state of a verification.
type Status string

const (
	StatusPending    Status = "pending"     // created; the link has not been opened
	StatusInProgress Status = "in_progress" // a browser opened the link and steps are running
	StatusCompleted  Status = "completed"   // every step passed or was skipped
	StatusFailed     Status = "failed"      // a step failed
	StatusExpired    Status = "expired"     // the link expired before the end
	StatusCancelled  Status = "cancelled"   // the integrator cancelled it
)

// Terminal reports whether no transition leaves s.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusExpired || s == StatusCancelled
}

// CanTransition is the one place that says which status changes are
// allowed. A verification moves pending → in_progress → completed | failed,
// and from any non-terminal status to expired or cancelled. A terminal
// status never changes.
func CanTransition(from, to Status) bool {
	switch from {
	case StatusPending:
		return to == StatusInProgress || to == StatusExpired || to == StatusCancelled
	case StatusInProgress:
		return to == StatusCompleted || to == StatusFailed || to == StatusExpired || to == StatusCancelled
	}
	return false
}

// StepStatus is the state of one step of a verification.
type StepStatus string

const (
	StepPending StepStatus = "pending"
	StepRunning StepStatus = "running"
	StepPassed  StepStatus = "passed"
	StepFailed  StepStatus = "failed"
	StepSkipped StepStatus = "skipped"
)

// Done reports whether the step has its outcome.
func (s StepStatus) Done() bool { return s == StepPassed || s == StepFailed || s == StepSkipped }

// Step is the record of one module of a verification's workflow.
type Step struct {
	Index       int        `json:"index"`
	Type        string     `json:"type"`
	DisplayName string     `json:"display_name"`
	Status      StepStatus `json:"status"`
	// Reason says why a step was skipped or failed, in plain words.
	Reason   string `json:"reason,omitempty"`
	Attempts int    `json:"attempts,omitempty"`
	// Side is "web" for steps done in the browser and "device" for the
	// steps of the mobile application's workflow, done on the phone after
	// the web_to_device step at index Group hands over.
	Side  string `json:"side"`
	Group int    `json:"group"`
	// State is the module's private state of the step (e.g. the number a
	// number prompt drew); never shown to the browser or the device.
	State      json.RawMessage `json:"-"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// WebContext is what is known of the end user's browser.
type WebContext struct {
	// IP and UserAgent are forwarded by the integrator's backend.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
	// BrowserIP and BrowserUserAgent are seen when the link is opened.
	BrowserIP        string `json:"browser_ip,omitempty"`
	BrowserUserAgent string `json:"browser_user_agent,omitempty"`
	// Location is the browser's reading of its position, when a
	// proximity check needs it. It is attacker-controlled input.
	Location *WebLocation `json:"location,omitempty"`
	// BindingMessage is the OpenID CIBA binding_message of the request:
	// shown on the web page and on the phone, so that the person can tell
	// that they confirm the transaction the client shows.
	BindingMessage string `json:"binding_message,omitempty"`
}

// WebLocation is a browser's geolocation reading.
type WebLocation struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	// AccuracyM is the browser's accuracy: a 95 % confidence radius.
	AccuracyM float64 `json:"accuracy_m"`
	// ReadAt is when the browser took the reading; RecordedAt when the
	// server received it.
	ReadAt     time.Time `json:"read_at"`
	RecordedAt time.Time `json:"recorded_at"`
	// Purged is set when the raw coordinates were removed after the
	// workspace's location retention time.
	Purged bool `json:"purged,omitempty"`
}

// DeviceContext is what a verification knows of the device that paired.
type DeviceContext struct {
	CredID string `json:"cred_id,omitempty"`
	// New is true when the device was unknown at pairing (admitted
	// because allow_new_device was true) and is not registered yet.
	New       bool   `json:"new,omitempty"`
	Platform  string `json:"platform,omitempty"`
	PushType  string `json:"push_type,omitempty"`
	PushToken string `json:"push_token,omitempty"`
	// Application is the mobile application whose workflow runs on it.
	Application string    `json:"application,omitempty"`
	PairedAt    time.Time `json:"paired_at,omitzero"`
}

// Verification is one run of an application's workflow for one user: a
// persisted state machine.
type Verification struct {
	ID          string // request_id
	Workspace   string
	AppID       string
	Application string
	// Workflow is the workflow's name and Modules its modules as they were
	// when the verification was created; later edits do not change a
	// running verification.
	Workflow       string
	Modules        []ModuleInstance
	UserID         string
	AllowNewDevice bool
	Metadata       map[string]any
	RedirectURL    string
	Web            WebContext
	// Device is the device that paired for the hand-over, if any.
	Device DeviceContext
	Status Status
	Steps  []Step
	// Claims holds what the steps produced so far, flat as in the result.
	Claims map[string]string
	// Reason says why the verification failed, in plain words.
	Reason string
	// LinkHash is the SHA-256 of the secret in the verification's URL.
	LinkHash []byte
	// BrowserHash is the SHA-256 of the cookie of the browser bound to the
	// verification; nil until the link is opened.
	BrowserHash []byte
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
	FinishedAt  time.Time
	// Version increases with every stored change; UpdateVerification
	// refuses a write based on an older version.
	Version int64
}

// CurrentDevice returns the index of the first device step that is not
// done, or -1.
func (v *Verification) CurrentDevice() int {
	for i, s := range v.Steps {
		if s.Side == "device" && !s.Status.Done() {
			return i
		}
	}
	return -1
}

// Current returns the index of the first step that is not done, or -1.
func (v *Verification) Current() int {
	for i, s := range v.Steps {
		if !s.Status.Done() {
			return i
		}
	}
	return -1
}

// Audit actors.
const (
	ActorAPI    = "api"
	ActorWeb    = "web"
	ActorDevice = "device"
	ActorSystem = "system"
	ActorAdmin  = "admin"
)

// AuditEvent records a transition or a refusal.
type AuditEvent struct {
	ID             int64           `json:"id"`
	Workspace      string          `json:"workspace,omitempty"`
	VerificationID string          `json:"verification_id,omitempty"`
	Actor          string          `json:"actor"`
	Action         string          `json:"action"` // e.g. "created", "step.passed", "refused.gatepass"
	Detail         json.RawMessage `json:"detail,omitempty"`
	Addr           string          `json:"addr,omitempty"`
	At             time.Time       `json:"at"`
}

// VerificationStore persists verifications and the audit log.
type VerificationStore interface {
	// CreateVerification stores a new verification (Version becomes 1) and
	// the audit events in one transaction.
	CreateVerification(ctx context.Context, v *Verification, audit ...AuditEvent) error
	// GetVerification returns a verification by id, or ENOTFOUND.
	GetVerification(ctx context.Context, id string) (*Verification, error)
	// VerificationByLink returns the verification whose LinkHash is hash,
	// or ENOTFOUND.
	VerificationByLink(ctx context.Context, hash []byte) (*Verification, error)
	// UpdateVerification stores v and the audit events in one transaction
	// if the stored version still equals v.Version, and then increments
	// v.Version. Otherwise it returns ECONFLICT and writes nothing.
	UpdateVerification(ctx context.Context, v *Verification, audit ...AuditEvent) error
	// ExpiredVerifications returns the ids of up to limit verifications that
	// are not terminal and expired at or before now.
	ExpiredVerifications(ctx context.Context, now time.Time, limit int) ([]string, error)
	// AddAudit appends events to the audit log.
	AddAudit(ctx context.Context, events ...AuditEvent) error
	// ListAudit returns the audit events of a verification, oldest first.
	ListAudit(ctx context.Context, verificationID string) ([]AuditEvent, error)
	// LocationsToPurge returns the ids of up to limit verifications of a
	// workspace that ended before before and still hold raw coordinates
	// (a WebLocation that is not Purged).
	LocationsToPurge(ctx context.Context, workspace string, before time.Time, limit int) ([]string, error)
}
