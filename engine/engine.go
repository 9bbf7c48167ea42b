// Package engine runs verifications: it creates them for integrators, binds
// them to the first browser that opens their link, runs their workflow's
// steps in order (skipping disabled modules and modules whose rule is
// false), collects claims, and moves each verification through its states.
// Every transition is one store transaction guarded by the verification's
// version, so two requests racing on one verification cannot both advance it.
package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/webtodevice"
	"github.com/tandem-id/tandem/rules"
)

// Store is what the engine needs to persist.
type Store interface {
	tandem.WorkspaceStore
	tandem.VerificationStore
	tandem.DeviceStore
}

// Limits of a verification request.
const (
	MaxUserID    = 256
	MaxMetadata  = 16 << 10
	MaxUserAgent = 512
	// MaxBindingMessage is the longest binding message, in characters.
	MaxBindingMessage = 64
	sweepBatchSize    = 200
)

// Engine runs verifications. Its fields must be set before use.
type Engine struct {
	Store     Store
	Modules   *module.Registry
	Rules     *rules.Env
	Events    *events.Hub
	Logger    *slog.Logger
	Now       func() time.Time
	PublicURL string // e.g. https://verify.example.com, no trailing slash
	// Push delivers push-mode prompts; nil delivers none (devices poll
	// their inbox).
	Push Pusher
	// Inboxes wakes devices waiting on their inbox; nil when none wait.
	Inboxes *events.Hub
	// OnEnd, when set, is called by every commit that would end a
	// verification, before it is stored; what it adds to the commit
	// (outbox items, CIBA grants) is stored in the same transaction as the
	// end. Of commits racing to end one verification only one is stored,
	// so what the others' calls added is dropped with them; an error of
	// OnEnd fails the commit. The OpenID CIBA notifications are enqueued
	// this way.
	OnEnd func(ctx context.Context, v *tandem.Verification, c *tandem.Commit) error

	progs sync.Map // rule source → *rules.Program

	// configs caches decoded module configs (see decodeConfig); nConfigs
	// counts its entries.
	configs  sync.Map // configKey → decodedConfig
	nConfigs atomic.Int64
	// workspaces caches workspaces by name (see workspace).
	workspaces sync.Map // name → cachedWorkspace
}

// maxConfigs bounds the config cache: past it the cache starts over.
const maxConfigs = 4096

type configKey struct{ typ, raw string }

type decodedConfig struct {
	cfg  module.Config
	errs []tandem.FieldError
}

// decodeConfig is e.Modules.DecodeConfig with a cache keyed by the module
// type and the config's JSON text: a verification's configs are decoded
// (strictly, then validated) once, not on every request. The config and
// errors returned are shared: callers must not modify them. Modules treat
// their configs as read-only.
func (e *Engine) decodeConfig(typ string, raw json.RawMessage) (module.Config, []tandem.FieldError) {
	k := configKey{typ, string(raw)}
	if d, ok := e.configs.Load(k); ok {
		d := d.(decodedConfig)
		return d.cfg, d.errs
	}
	cfg, errs := e.Modules.DecodeConfig(typ, raw)
	if e.nConfigs.Add(1) > maxConfigs {
		e.configs.Clear()
		e.nConfigs.Store(1)
	}
	e.configs.Store(k, decodedConfig{cfg, errs})
	return cfg, errs
}

// workspaceVersioner is implemented by stores that can tell which stored
// workspace of a name is current, and its version, without loading it
// (store.DB).
type workspaceVersioner interface {
	WorkspaceVersion(ctx context.Context, name string) (id string, version int64, err error)
}

// cachedWorkspace is a decoded workspace and the row id it was read from:
// a workspace deleted and created again has a new id and starts its
// versions again.
type cachedWorkspace struct {
	id string
	ws *tandem.Workspace
}

// workspace returns the named workspace as e.Store.GetWorkspace does. When
// the store implements workspaceVersioner, the decoded workspace is cached
// and reused while the stored id and version are the same, so that a
// request reads one row instead of the whole document. The returned
// workspace is shared: the engine only reads it.
func (e *Engine) workspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	vs, ok := e.Store.(workspaceVersioner)
	if !ok {
		return e.Store.GetWorkspace(ctx, name)
	}
	id, ver, err := vs.WorkspaceVersion(ctx, name)
	if err != nil {
		e.workspaces.Delete(name)
		return nil, err
	}
	if c, ok := e.workspaces.Load(name); ok {
		if c := c.(cachedWorkspace); c.id == id && c.ws.Version == ver {
			return c.ws, nil
		}
	}
	ws, err := e.Store.GetWorkspace(ctx, name)
	if err != nil {
		return nil, err
	}
	if ws.Version == ver { // else it changed meanwhile: the id may have too
		e.workspaces.Store(name, cachedWorkspace{id: id, ws: ws})
	}
	return ws, nil
}

// CreateRequest is an integrator's request to verify one user.
type CreateRequest struct {
	UserID         string
	AllowNewDevice bool
	Metadata       map[string]any
	RedirectURL    string
	IP             string
	UserAgent      string
	// BindingMessage is shown on the web page and on the phone (OpenID
	// CIBA binding_message); at most MaxBindingMessage characters.
	BindingMessage string
	// MaxExpiry, when positive, caps the lifetime of the link below the
	// application's link_expiry_s (OpenID CIBA requested_expiry).
	MaxExpiry time.Duration
}

// Created is a new verification and the link to send the user to.
type Created struct {
	Verification *tandem.Verification
	URL          string
}

// Create starts a verification of app's workflow for one user. It returns
// EINVALID naming the field for bad input, EFORBIDDEN when the
// application's gatepass rule refuses the request (only an audit entry is
// stored then), and ENOTFOUND when the application no longer exists.
func (e *Engine) Create(ctx context.Context, ref *tandem.AppRef, req CreateRequest, addr string) (*Created, error) {
	now := e.Now()
	ws, err := e.workspace(ctx, ref.Workspace)
	if err != nil {
		return nil, err
	}
	app, ok := ws.Doc.Application(ref.Name)
	if !ok {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "application %q no longer exists", ref.Name)
	}
	if err := checkRequest(app, &req); err != nil {
		return nil, err
	}
	if app.VerificationWay != tandem.WayWeb {
		return nil, tandem.Errorf(tandem.EINVALID, "Application %q has verification_way %q: it runs on the phone after a web_to_device hand-over. Start verifications with the web application that hands over to it.", app.Name, app.VerificationWay)
	}
	wf, ok := ws.Doc.Workflow(app.Workflow)
	if !ok {
		return nil, fmt.Errorf("workspace %s: application %s: workflow %s missing", ref.Workspace, app.Name, app.Workflow)
	}
	if app.Gatepass != "" {
		in := rules.Input{
			Request: rules.RequestVars{UserID: req.UserID, AllowNewDevice: req.AllowNewDevice, Metadata: req.Metadata},
			Claims:  map[string]string{},
			Web:     rules.WebVars{IP: req.IP, UserAgent: req.UserAgent},
			Now:     now,
		}
		pass, err := e.eval(ctx, app.Gatepass, in)
		if err != nil || !pass {
			detail := map[string]any{"application": app.Name, "user_id": req.UserID, "rule": app.Gatepass}
			if err != nil {
				detail["error"] = err.Error()
			}
			if aerr := e.Store.AddAudit(ctx, e.audit(ref.Workspace, "", tandem.ActorAPI, "refused.gatepass", addr, now, detail)); aerr != nil {
				return nil, aerr
			}
			return nil, tandem.Errorf(tandem.EFORBIDDEN, "The application's gatepass rule refused this request.")
		}
	}

	token := randomToken()
	v := &tandem.Verification{
		ID:             newUUID(),
		Workspace:      ref.Workspace,
		AppID:          ref.ID,
		Application:    app.Name,
		Workflow:       wf.Name,
		UserID:         req.UserID,
		AllowNewDevice: req.AllowNewDevice,
		Metadata:       req.Metadata,
		RedirectURL:    req.RedirectURL,
		Web:            tandem.WebContext{IP: req.IP, UserAgent: req.UserAgent, BindingMessage: req.BindingMessage},
		Status:         tandem.StatusPending,
		LinkHash:       hash(token),
		CreatedAt:      now,
		UpdatedAt:      now,
		ExpiresAt:      now.Add(time.Duration(app.LinkExpiryS) * time.Second),
	}
	if req.MaxExpiry > 0 && now.Add(req.MaxExpiry).Before(v.ExpiresAt) {
		v.ExpiresAt = now.Add(req.MaxExpiry)
	}
	if v.Metadata == nil {
		v.Metadata = map[string]any{}
	}
	v.Modules, v.Steps, err = e.expand(&ws.Doc, wf)
	if err != nil {
		return nil, err
	}
	v.Claims = map[string]string{"request_id": v.ID, "workflow": wf.Name, "user_id": req.UserID}
	ev := e.audit(v.Workspace, v.ID, tandem.ActorAPI, "created", addr, now, map[string]any{"application": app.Name, "workflow": wf.Name, "user_id": req.UserID})
	if err := e.Store.CreateVerification(ctx, v, ev); err != nil {
		return nil, err
	}
	return &Created{Verification: v, URL: e.PublicURL + "/v/" + token}, nil
}

// checkRequest validates and normalizes an integrator's request.
func checkRequest(app *tandem.Application, req *CreateRequest) error {
	var errs []tandem.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, tandem.FieldError{Path: "body." + path, Message: fmt.Sprintf(format, args...)})
	}
	switch n := utf8.RuneCountInString(req.UserID); {
	case strings.TrimSpace(req.UserID) == "":
		add("user_id", "user_id is required: the integrator's identifier of the person (1 to %d characters)", MaxUserID)
	case !utf8.ValidString(req.UserID):
		add("user_id", "user_id must be valid UTF-8")
	case n > MaxUserID:
		add("user_id", "user_id has %d characters; at most %d are allowed", n, MaxUserID)
	case strings.IndexFunc(req.UserID, unicode.IsControl) >= 0:
		add("user_id", "user_id must not contain control characters")
	}
	if req.Metadata != nil {
		b, _ := json.Marshal(req.Metadata)
		if len(b) > MaxMetadata {
			add("metadata", "metadata is %d bytes as JSON; at most %d are allowed", len(b), MaxMetadata)
		}
	}
	if req.RedirectURL != "" && !slices.Contains(app.RedirectURLs, req.RedirectURL) {
		if len(app.RedirectURLs) == 0 {
			add("redirect_url", "application %q allows no redirect URLs; add this URL to its redirect_urls or leave redirect_url out", app.Name)
		} else {
			add("redirect_url", "%q is not one of application %q's redirect_urls; use one of them exactly", req.RedirectURL, app.Name)
		}
	}
	if req.IP != "" {
		a, err := netip.ParseAddr(req.IP)
		if err != nil {
			add("ip", "ip %q is not an IPv4 or IPv6 address", req.IP)
		} else {
			req.IP = a.Unmap().String()
		}
	}
	if n := utf8.RuneCountInString(req.UserAgent); n > MaxUserAgent {
		add("user_agent", "user_agent has %d characters; at most %d are allowed", n, MaxUserAgent)
	}
	switch n := utf8.RuneCountInString(req.BindingMessage); {
	case !utf8.ValidString(req.BindingMessage):
		add("binding_message", "binding_message must be valid UTF-8")
	case n > MaxBindingMessage:
		add("binding_message", "binding_message has %d characters; at most %d are allowed", n, MaxBindingMessage)
	case strings.IndexFunc(req.BindingMessage, unicode.IsControl) >= 0:
		add("binding_message", "binding_message must not contain control characters")
	}
	return tandem.Invalid("The verification request is not valid.", errs)
}

// Get returns a verification of the application ref, or ENOTFOUND when it
// does not exist or belongs to another application. An overdue
// verification is expired first.
func (e *Engine) Get(ctx context.Context, appID, id string) (*tandem.Verification, error) {
	v, err := e.Store.GetVerification(ctx, id)
	if err != nil || v.AppID != appID {
		if err == nil || tandem.ErrorCode(err) == tandem.ENOTFOUND {
			return nil, tandem.Errorf(tandem.ENOTFOUND, "Verification %q not found.", id)
		}
		return nil, err
	}
	return e.expireIfDue(ctx, v)
}

// Cancel cancels a verification of the application. It returns ECONFLICT
// when the verification has already ended.
func (e *Engine) Cancel(ctx context.Context, appID, id, addr string) (*tandem.Verification, error) {
	for attempt := 0; ; attempt++ {
		v, err := e.Get(ctx, appID, id)
		if err != nil {
			return nil, err
		}
		if v.Status.Terminal() {
			return nil, tandem.Errorf(tandem.ECONFLICT, "Verification %q has already ended with status %s.", id, v.Status)
		}
		now := e.Now()
		c := tandem.Commit{Verification: v}
		if err := e.transition(v, tandem.StatusCancelled, now, &c); err != nil {
			return nil, err
		}
		v.Reason = "The verification was cancelled."
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorAPI, "cancelled", addr, now, nil))
		err = e.commit(ctx, c)
		if tandem.ErrorCode(err) == tandem.ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		e.published(ctx, v, now)
		return v, nil
	}
}

// Result returns the flat claims of a verification: every claim its
// modules produced plus request_id, workflow, user_id and status.
func Result(v *tandem.Verification) map[string]string {
	out := maps.Clone(v.Claims)
	if out == nil {
		out = map[string]string{}
	}
	out["request_id"] = v.ID
	out["workflow"] = v.Workflow
	out["user_id"] = v.UserID
	out["status"] = string(v.Status)
	return out
}

// ErrBoundElsewhere is returned when a browser other than the bound one
// uses a verification link.
var ErrBoundElsewhere = &tandem.Error{Code: tandem.EFORBIDDEN, Message: "This verification link was opened in another browser. Continue there, or ask for a new link."}

// Open is called when a browser opens a verification link. browserKey is
// the browser's secret cookie value. The first browser to open the link is
// bound to it and the verification starts; the bound browser gets the
// verification back; any other browser gets ErrBoundElsewhere (audited).
// An unknown link is ENOTFOUND.
func (e *Engine) Open(ctx context.Context, token, browserKey, addr, userAgent string) (*tandem.Verification, error) {
	for attempt := 0; ; attempt++ {
		v, err := e.byLink(ctx, token)
		if err != nil {
			return nil, err
		}
		if v.BrowserHash != nil {
			return e.checkBrowser(ctx, v, browserKey, addr)
		}
		if v.Status.Terminal() {
			return v, nil
		}
		now := e.Now()
		v.BrowserHash = hash(browserKey)
		v.Web.BrowserIP = addr
		v.Web.BrowserUserAgent = truncate(userAgent, MaxUserAgent)
		c := tandem.Commit{Verification: v}
		if err := e.transition(v, tandem.StatusInProgress, now, &c); err != nil {
			return nil, err
		}
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorWeb, "opened", addr, now, map[string]any{"user_agent": v.Web.BrowserUserAgent}))
		e.advance(ctx, v, now, addr, &c)
		err = e.commit(ctx, c)
		if tandem.ErrorCode(err) == tandem.ECONFLICT && attempt < 3 {
			continue // another request bound or changed it; look again
		}
		if err != nil {
			return nil, err
		}
		e.published(ctx, v, now)
		return v, nil
	}
}

// Lookup returns the verification of a link for the browser bound to it.
// It returns ENOTFOUND for an unknown link or one no browser opened yet,
// and ErrBoundElsewhere for another browser.
func (e *Engine) Lookup(ctx context.Context, token, browserKey, addr string) (*tandem.Verification, error) {
	v, err := e.byLink(ctx, token)
	if err != nil {
		return nil, err
	}
	if v.BrowserHash == nil {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "This verification has not been opened yet.")
	}
	return e.checkBrowser(ctx, v, browserKey, addr)
}

func (e *Engine) checkBrowser(ctx context.Context, v *tandem.Verification, browserKey, addr string) (*tandem.Verification, error) {
	if browserKey == "" || subtle.ConstantTimeCompare(v.BrowserHash, hash(browserKey)) != 1 {
		ev := e.audit(v.Workspace, v.ID, tandem.ActorWeb, "refused.browser", addr, e.Now(), map[string]any{"reason": "link opened in another browser"})
		if err := e.Store.AddAudit(ctx, ev); err != nil {
			return nil, err
		}
		return nil, ErrBoundElsewhere
	}
	return v, nil
}

func (e *Engine) byLink(ctx context.Context, token string) (*tandem.Verification, error) {
	if token == "" || len(token) > 128 {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "This verification link is not valid.")
	}
	v, err := e.Store.VerificationByLink(ctx, hash(token))
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "This verification link is not valid.")
	} else if err != nil {
		return nil, err
	}
	return e.expireIfDue(ctx, v)
}

// RetryError is returned by Submit when the person can correct the input.
type RetryError struct {
	Fields []tandem.FieldError
	Values map[string]string
	// AttemptsLeft is how many counted attempts remain.
	AttemptsLeft int
}

func (r *RetryError) Error() string { return "step input needs correction" }

// View is what the browser shows for a verification's current state.
type View struct {
	Step        int // index of the current step, -1 when none
	Form        []module.Node
	SubmitLabel string
	// Waiting is set when the current step is not done in this browser.
	Waiting string
	// Handover is set while a web_to_device step runs.
	Handover *HandoverView
}

// ViewOf describes the current step of v for the browser; values and errs
// come from a submission that needs correction.
func (e *Engine) ViewOf(v *tandem.Verification, values map[string]string, errs []tandem.FieldError) View {
	i := v.Current()
	if v.Status.Terminal() || i < 0 {
		return View{Step: -1}
	}
	m := v.Modules[i]
	info, ok := e.Modules.Lookup(m.Type)
	if m.Type == webtodevice.Type {
		return View{Step: i, Handover: e.handoverView(v, i), Waiting: "Continue on your phone."}
	}
	if !ok || info.Web == nil {
		return View{Step: i, Waiting: waitingText(m.Type)}
	}
	cfg, _ := e.decodeConfig(m.Type, m.Configs)
	return View{Step: i, Form: info.Web.Form(cfg, values, errs), SubmitLabel: info.Web.SubmitLabel()}
}

func waitingText(string) string {
	return "Waiting for this step to be completed elsewhere."
}

// Submit takes the browser's answer to step index. It returns the updated
// verification; a *RetryError when the input needs correction (attempts
// are counted and exhausting them fails the step); ECONFLICT when the step
// is no longer the current one (e.g. a second tab or a double submit won
// the race).
func (e *Engine) Submit(ctx context.Context, token, browserKey string, index int, form map[string]string, addr string) (*tandem.Verification, error) {
	v, err := e.Lookup(ctx, token, browserKey, addr)
	if err != nil {
		return nil, err
	}
	if v.Status.Terminal() {
		return v, nil
	}
	cur := v.Current()
	if index != cur {
		return nil, tandem.Errorf(tandem.ECONFLICT, "This step is already done.")
	}
	m := v.Modules[cur]
	info, ok := e.Modules.Lookup(m.Type)
	if !ok || info.Web == nil {
		return nil, tandem.Errorf(tandem.EINVALID, "This step is not completed in the browser.")
	}
	cfg, ferrs := e.decodeConfig(m.Type, m.Configs)
	if len(ferrs) > 0 {
		return nil, fmt.Errorf("verification %s step %d: stored config invalid: %v", v.ID, cur, ferrs)
	}
	now := e.Now()
	out, err := info.Web.Submit(ctx, module.StepInput{VerificationID: v.ID, UserID: v.UserID, Config: cfg, Claims: maps.Clone(v.Claims), Now: now}, form)
	if err != nil {
		return nil, fmt.Errorf("verification %s step %d (%s): %w", v.ID, cur, m.Type, err)
	}
	step := &v.Steps[cur]
	c := tandem.Commit{Verification: v}
	if len(out.Retry) > 0 {
		if !out.CountAttempt {
			return nil, &RetryError{Fields: out.Retry, Values: out.Values, AttemptsLeft: module.MaxAttempts - step.Attempts}
		}
		step.Attempts++
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorWeb, "step.rejected_input", addr, now, map[string]any{"step": cur, "type": m.Type, "attempt": step.Attempts, "problem": out.Retry[0].Message}))
		if step.Attempts < module.MaxAttempts {
			if err := e.commit(ctx, c); err != nil {
				return nil, err
			}
			return nil, &RetryError{Fields: out.Retry, Values: out.Values, AttemptsLeft: module.MaxAttempts - step.Attempts}
		}
		values := out.Values
		out = module.Outcome{Passed: false, Reason: fmt.Sprintf("Too many attempts: %s", out.Retry[0].Message)}
		if fc, ok := info.Web.(interface {
			FailedClaims(values map[string]string, now time.Time) map[string]string
		}); ok {
			out.Claims = fc.FailedClaims(values, now)
		}
	}
	maps.Copy(v.Claims, out.Claims)
	step.FinishedAt = now
	if out.Passed {
		step.Status = tandem.StepPassed
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorWeb, "step.passed", addr, now, map[string]any{"step": cur, "type": m.Type}))
		e.advance(ctx, v, now, addr, &c)
	} else {
		step.Status = tandem.StepFailed
		step.Reason = out.Reason
		if err := e.transition(v, tandem.StatusFailed, now, &c); err != nil {
			return nil, err
		}
		v.Reason = out.Reason
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorWeb, "step.failed", addr, now, map[string]any{"step": cur, "type": m.Type, "reason": out.Reason}))
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "failed", addr, now, nil))
	}
	if err := e.commit(ctx, c); err != nil {
		return nil, err
	}
	e.published(ctx, v, now)
	return v, nil
}

// advance runs the steps from the current one: disabled modules and modules
// whose rule is false are skipped with the reason recorded; the first step
// that needs an answer is marked running; when no step is left the
// verification completes. It adds the audit events of what it did to c.
func (e *Engine) advance(ctx context.Context, v *tandem.Verification, now time.Time, addr string, c *tandem.Commit) {
	for {
		i := v.Current()
		if i < 0 {
			if err := e.transition(v, tandem.StatusCompleted, now, c); err == nil {
				c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "completed", addr, now, nil))
			}
			return
		}
		step := &v.Steps[i]
		if step.Status == tandem.StepRunning {
			return
		}
		m := v.Modules[i]
		skip := e.skipReason(ctx, v, m, now)
		if skip != "" {
			step.Status, step.Reason, step.StartedAt, step.FinishedAt = tandem.StepSkipped, skip, now, now
			c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.skipped", addr, now, map[string]any{"step": i, "type": m.Type, "reason": skip}))
			for j := range v.Steps {
				if v.Steps[j].Side == SideDevice && v.Steps[j].Group == i {
					v.Steps[j].Status, v.Steps[j].Reason, v.Steps[j].StartedAt, v.Steps[j].FinishedAt = tandem.StepSkipped, "The hand-over to the phone was skipped.", now, now
				}
			}
			continue
		}
		step.Status, step.StartedAt = tandem.StepRunning, now
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.started", addr, now, map[string]any{"step": i, "type": m.Type}))
		return
	}
}

// skipReason says why module m of v does not run (disabled, or its rule
// is false or cannot be evaluated), or "" when it runs.
func (e *Engine) skipReason(ctx context.Context, v *tandem.Verification, m tandem.ModuleInstance, now time.Time) string {
	if !m.IsEnabled() {
		return "The module is disabled."
	}
	if m.Rule == "" {
		return ""
	}
	pass, err := e.eval(ctx, m.Rule, e.ruleInput(v, now))
	switch {
	case err != nil:
		return fmt.Sprintf("The rule could not be evaluated (%v), so the module did not run.", err)
	case !pass:
		return fmt.Sprintf("The rule %s was false.", m.Rule)
	}
	return ""
}

func (e *Engine) ruleInput(v *tandem.Verification, now time.Time) rules.Input {
	ip := v.Web.IP
	if ip == "" {
		ip = v.Web.BrowserIP
	}
	ua := v.Web.UserAgent
	if ua == "" {
		ua = v.Web.BrowserUserAgent
	}
	return rules.Input{
		Request: rules.RequestVars{UserID: v.UserID, AllowNewDevice: v.AllowNewDevice, Metadata: v.Metadata},
		Claims:  maps.Clone(v.Claims),
		Web:     rules.WebVars{IP: ip, UserAgent: ua},
		Device:  rules.DeviceVars{Platform: v.Device.Platform, Registered: v.Device.CredID != "" && !v.Device.New},
		Now:     now,
	}
}

// eval compiles (once per rule text) and evaluates a rule.
func (e *Engine) eval(ctx context.Context, rule string, in rules.Input) (bool, error) {
	p, ok := e.progs.Load(rule)
	if !ok {
		prog, err := e.Rules.Compile(rule)
		if err != nil {
			return false, err
		}
		p, _ = e.progs.LoadOrStore(rule, prog)
	}
	ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	return p.(*rules.Program).Eval(ctx, in)
}

// transition moves v to status to, or reports a bug when the state machine
// does not allow it. c is the commit that will store the change: when v
// ends, transition marks in it that the verification's webhook is due (see
// ended), so that the one commit that stores the terminal status also
// enqueues the webhook.
func (e *Engine) transition(v *tandem.Verification, to tandem.Status, now time.Time, c *tandem.Commit) error {
	if !tandem.CanTransition(v.Status, to) {
		return tandem.Errorf(tandem.ECONFLICT, "Verification %s cannot go from %s to %s.", v.ID, v.Status, to)
	}
	v.Status = to
	v.UpdatedAt = now
	if to.Terminal() {
		ended(c)
		v.FinishedAt = now
		for i := range v.Steps {
			if v.Steps[i].Status == tandem.StepRunning && to != tandem.StatusCompleted {
				// A running step of a verification that ends otherwise
				// stays as it was; its reason tells why it stopped.
				v.Steps[i].Reason = "The verification ended: " + string(to) + "."
			}
		}
	}
	return nil
}

// expireIfDue expires v when its link is overdue and returns the stored
// state.
func (e *Engine) expireIfDue(ctx context.Context, v *tandem.Verification) (*tandem.Verification, error) {
	now := e.Now()
	if v.Status.Terminal() {
		return v, nil
	}
	if now.Before(v.ExpiresAt) {
		return e.timeoutIfDue(ctx, v, now)
	}
	c := tandem.Commit{Verification: v}
	if err := e.transition(v, tandem.StatusExpired, now, &c); err != nil {
		return nil, err
	}
	v.Reason = "The verification link expired."
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "expired", "", now, nil))
	err := e.commit(ctx, c)
	if tandem.ErrorCode(err) == tandem.ECONFLICT {
		return e.Store.GetVerification(ctx, v.ID)
	}
	if err != nil {
		return nil, err
	}
	e.Events.Publish(v.ID)
	return v, nil
}

// Sweep expires every overdue verification and returns how many it
// expired.
func (e *Engine) Sweep(ctx context.Context) (int, error) {
	n := 0
	for {
		ids, err := e.Store.ExpiredVerifications(ctx, e.Now(), sweepBatchSize)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			v, err := e.Store.GetVerification(ctx, id)
			if err != nil {
				return n, err
			}
			if v, err = e.expireIfDue(ctx, v); err != nil {
				return n, err
			}
			if v.Status == tandem.StatusExpired {
				n++
			}
		}
		if len(ids) < sweepBatchSize {
			return n, nil
		}
	}
}

// PurgeLocations removes the raw coordinates of verifications that ended
// longer ago than their workspace's location_retention_s, keeping the
// decision and the distance. It returns how many it purged.
func (e *Engine) PurgeLocations(ctx context.Context) (int, error) {
	wss, err := e.Store.ListWorkspaces(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ws := range wss {
		st := ws.Doc.Settings
		if st == nil || st.LocationRetentionS <= 0 {
			continue
		}
		now := e.Now()
		ids, err := e.Store.LocationsToPurge(ctx, ws.Doc.Name, now.Add(-time.Duration(st.LocationRetentionS)*time.Second), sweepBatchSize)
		if err != nil {
			return n, err
		}
		for _, id := range ids {
			v, err := e.Store.GetVerification(ctx, id)
			if err != nil {
				return n, err
			}
			if v.Web.Location != nil {
				v.Web.Location = &tandem.WebLocation{AccuracyM: v.Web.Location.AccuracyM, ReadAt: v.Web.Location.ReadAt, RecordedAt: v.Web.Location.RecordedAt, Purged: true}
			}
			for _, k := range []string{"web_lat", "web_long", "mob_lat", "mob_long"} {
				delete(v.Claims, k)
			}
			err = e.Store.UpdateVerification(ctx, v, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "location.purged", "", now, map[string]any{"retention_s": st.LocationRetentionS}))
			if err != nil && tandem.ErrorCode(err) != tandem.ECONFLICT {
				return n, err
			}
			if err == nil {
				n++
			}
		}
	}
	return n, nil
}

// RunSweeper calls Sweep every interval until ctx is done.
func (e *Engine) RunSweeper(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := e.Sweep(ctx); err != nil {
				e.log().Error("expiry sweep failed", "err", err)
			} else if n > 0 {
				e.log().Info("expired verifications", "count", n)
			}
			if n, err := e.PurgeLocations(ctx); err != nil {
				e.log().Error("location purge failed", "err", err)
			} else if n > 0 {
				e.log().Info("purged locations", "count", n)
			}
		}
	}
}

func (e *Engine) audit(ws, id, actor, action, addr string, now time.Time, detail map[string]any) tandem.AuditEvent {
	ev := tandem.AuditEvent{Workspace: ws, VerificationID: id, Actor: actor, Action: action, Addr: addr, At: now}
	if detail != nil {
		ev.Detail, _ = json.Marshal(detail)
	}
	return ev
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// randomToken returns 256 bits from crypto/rand, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID, the seeds' request_id form.
func newUUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hx[c>>4], hx[c&0xf])
	}
	return string(out)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// Unix formats t as Unix seconds, the claims' time format.
func Unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

func (e *Engine) log() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}
