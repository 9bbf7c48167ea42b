package engine

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/module/numberprompt"
	"github.com/tandem-id/tandem/module/webtodevice"
)

// Step sides.
const (
	SideWeb    = "web"
	SideDevice = "device"
)

// ChallengeTTL is the lifetime of a device challenge.
const ChallengeTTL = 5 * time.Minute

// Pusher delivers a push notification that tells a device a prompt is
// waiting. Payloads carry only ids, never the number or user data.
type Pusher interface {
	Push(ctx context.Context, d *tandem.Device, p PushMessage) error
}

// ErrPushGone is wrapped by a Pusher's error when the push service says the
// device's subscription no longer exists (Web Push 404 or 410): the engine
// then clears the device's push registration.
var ErrPushGone = errors.New("the push subscription no longer exists")

// PushMessage is what a push carries.
type PushMessage struct {
	VerificationID string `json:"verification_id"`
	Title          string `json:"title,omitempty"`
	Body           string `json:"body,omitempty"`
}

// expand returns the modules and step records of a verification of wf:
// the workflow's modules, each web_to_device followed by the modules of
// the workflow of the mobile application it hands over to.
func (e *Engine) expand(doc *tandem.WorkspaceDoc, wf *tandem.Workflow) ([]tandem.ModuleInstance, []tandem.Step, error) {
	var mods []tandem.ModuleInstance
	var steps []tandem.Step
	for _, m := range wf.Modules {
		i := len(mods)
		mods = append(mods, m)
		steps = append(steps, tandem.Step{Index: i, Type: m.Type, DisplayName: m.DisplayName, Status: tandem.StepPending, Side: SideWeb, Group: -1})
		if m.Type != webtodevice.Type {
			continue
		}
		cfg, err := handoverConfig(e, m)
		if err != nil {
			return nil, nil, err
		}
		app, ok := doc.Application(cfg.DeviceApplication)
		if !ok {
			return nil, nil, fmt.Errorf("hand-over to missing application %s", cfg.DeviceApplication)
		}
		dwf, ok := doc.Workflow(app.Workflow)
		if !ok {
			return nil, nil, fmt.Errorf("application %s: missing workflow %s", app.Name, app.Workflow)
		}
		for _, dm := range dwf.Modules {
			j := len(mods)
			mods = append(mods, dm)
			steps = append(steps, tandem.Step{Index: j, Type: dm.Type, DisplayName: dm.DisplayName, Status: tandem.StepPending, Side: SideDevice, Group: i})
		}
	}
	return mods, steps, nil
}

func handoverConfig(e *Engine, m tandem.ModuleInstance) (*webtodevice.Config, error) {
	c, ferrs := e.decodeConfig(m.Type, m.Configs)
	if len(ferrs) > 0 {
		return nil, fmt.Errorf("web_to_device config: %v", ferrs)
	}
	cfg, ok := c.(*webtodevice.Config)
	if !ok {
		return nil, fmt.Errorf("web_to_device config has type %T", c)
	}
	return cfg, nil
}

// notification returns how the hand-over at step i reaches the phone.
func (e *Engine) notification(ctx context.Context, v *tandem.Verification, i int) (string, *tandem.Application, error) {
	cfg, err := handoverConfig(e, v.Modules[i])
	if err != nil {
		return "", nil, err
	}
	ws, err := e.workspace(ctx, v.Workspace)
	if err != nil {
		return "", nil, err
	}
	app, ok := ws.Doc.Application(cfg.DeviceApplication)
	if !ok {
		return "", nil, tandem.Errorf(tandem.ECONFLICT, "The mobile application %q no longer exists.", cfg.DeviceApplication)
	}
	n := cfg.Notification
	if n == "" && app.Mobile != nil {
		n = app.Mobile.Notification
	}
	if n == "" {
		n = tandem.NotifyQR
	}
	return n, app, nil
}

// Pairing is a fresh QR code's content for a hand-over.
type Pairing struct {
	URL       string
	ExpiresAt time.Time
	// Push is true when prompts were also sent to the user's phones.
	Push bool
}

// NewPairing creates a pairing token for the running web_to_device step of
// the verification of a link, for the browser bound to it. It returns
// ECONFLICT when no hand-over is waiting for a phone.
func (e *Engine) NewPairing(ctx context.Context, token, browserKey, addr string) (*Pairing, error) {
	v, err := e.Lookup(ctx, token, browserKey, addr)
	if err != nil {
		return nil, err
	}
	i := v.Current()
	if v.Status != tandem.StatusInProgress || i < 0 || v.Steps[i].Type != webtodevice.Type || v.Device.CredID != "" {
		return nil, tandem.Errorf(tandem.ECONFLICT, "No hand-over is waiting for a phone.")
	}
	if needsLocation(v, i) && v.Web.Location == nil {
		return nil, tandem.Refusef(tandem.ECONFLICT, "location_required", "Share this computer's location first: the next steps compare it with your phone's.")
	}
	cfg, err := handoverConfig(e, v.Modules[i])
	if err != nil {
		return nil, err
	}
	now := e.Now()
	pt := randomToken()
	p := tandem.Pairing{Hash: hash(pt), VerificationID: v.ID, Step: i, CreatedAt: now, ExpiresAt: now.Add(cfg.PairingTTL())}
	if p.ExpiresAt.After(v.ExpiresAt) {
		p.ExpiresAt = v.ExpiresAt
	}
	if err := e.Store.CreatePairing(ctx, p); err != nil {
		return nil, err
	}
	n, _, err := e.notification(ctx, v, i)
	if err != nil {
		return nil, err
	}
	return &Pairing{URL: e.PublicURL + "/d/" + pt, ExpiresAt: p.ExpiresAt, Push: n == tandem.NotifyPush}, nil
}

// deviceRefusal records a refused device request in the audit log and
// returns err.
func (e *Engine) deviceRefusal(ctx context.Context, v *tandem.Verification, credID, addr string, err error) error {
	if aerr := e.Store.AddAudit(ctx, e.refusalAudit(v, credID, addr, err)); aerr != nil {
		return aerr
	}
	return err
}

// refusalAudit is the audit entry of a refused device request.
func (e *Engine) refusalAudit(v *tandem.Verification, credID, addr string, err error) tandem.AuditEvent {
	ws, vid := "", ""
	if v != nil {
		ws, vid = v.Workspace, v.ID
	}
	detail := map[string]any{"reason": tandem.ErrorReason(err), "message": tandem.ErrorMessage(err)}
	if credID != "" {
		detail["cred_id"] = credID
	}
	return e.audit(ws, vid, tandem.ActorDevice, "refused.device", addr, e.Now(), detail)
}

// use is the single-use token a device request presents (its pairing
// token or its challenge): checked, not used, when the request arrives,
// and used up by the request's one write, so that a request makes one
// transaction: the token's use, the verification's change with its audit
// and outbox rows, and the challenge for the device's next request, all or
// nothing. That write is the request's commit (use.commit), or the audit
// entry of its refusal (refuse). A request that ends without either (an
// error, a lost race) uses the token up by a write of its own (finish): a
// token that reached the check is used up whatever the outcome of the
// request (docs/device-protocol.md §5). Of two requests presenting the same
// token, at most one commits: the store's use of a token is conditional.
type use struct {
	e         *Engine
	pairing   *tandem.PairingUse
	challenge *tandem.ChallengeUse
	credID    string // the device presenting a challenge
	addr      string
	done      bool // the token was used up
}

// commit stores c (as Engine.commit) with the use of the token.
func (u *use) commit(ctx context.Context, c tandem.Commit) error {
	c.UsePairing, c.UseChallenge = u.pairing, u.challenge
	if err := u.e.commit(ctx, c); err != nil {
		return err
	}
	u.done = true
	return nil
}

// refuse audits the refusal err of the request about v (nil when not known)
// together with the token's use, and returns err. u may be nil (a request
// whose token was used up already): the refusal is audited alone then.
func (e *Engine) refuse(ctx context.Context, u *use, v *tandem.Verification, credID, addr string, err error) error {
	if u == nil || u.done {
		return e.deviceRefusal(ctx, v, credID, addr, err)
	}
	if cerr := u.commit(ctx, tandem.Commit{Audit: []tandem.AuditEvent{e.refusalAudit(v, credID, addr, err)}}); cerr != nil {
		// The token was used (or expired) meanwhile, or the store failed:
		// use it up alone, and audit the refusal alone.
		if ferr := u.finish(ctx, nil); ferr != nil {
			return ferr
		}
		return e.deviceRefusal(ctx, v, credID, addr, err)
	}
	return err
}

// finish ends a request that answers err: when the token was not used up
// yet, it is used up now by a write of its own. finish returns err, or the
// refusal of a token that a concurrent request used up first (it lost the
// race for it: its commit, if any, wrote nothing).
func (u *use) finish(ctx context.Context, err error) error {
	if u == nil || u.done {
		return err
	}
	u.done = true
	var uerr error
	var refusal error
	switch {
	case u.pairing != nil:
		_, uerr = u.e.Store.UsePairing(ctx, u.pairing.Hash, u.pairing.At)
		refusal = errPairingInvalid()
	case u.challenge != nil:
		_, uerr = u.e.Store.UseChallenge(ctx, u.challenge.Value, u.challenge.CredID, u.challenge.At)
		refusal = errChallengeInvalid()
	}
	switch tandem.ErrorCode(uerr) {
	case "", tandem.EGONE: // used up now
		return err
	case tandem.ENOTFOUND:
		return u.e.deviceRefusal(ctx, nil, u.credID, u.addr, refusal)
	default:
		if err == nil {
			return uerr
		}
		u.e.log().Error("using up a device request's token failed", "err", uerr)
		return err
	}
}

func errPairingInvalid() error {
	return tandem.Refusef(tandem.ENOTFOUND, "pairing_invalid", "This code is not valid or was already used. Scan the code that the web page shows now.")
}

func errChallengeInvalid() error {
	return tandem.Refusef(tandem.EUNAUTHORIZED, "challenge_invalid", "The challenge is unknown or was already used; fetch a new one.")
}

// nextChallenge returns a new challenge of credID for the device's next
// request, bound to the verification verificationID (unless ""), for a
// commit to store.
func (e *Engine) nextChallenge(credID, verificationID string, now time.Time) tandem.Challenge {
	return tandem.Challenge{Value: randomToken(), CredID: credID, VerificationID: verificationID, ExpiresAt: now.Add(ChallengeTTL)}
}

// Pair handles a device that scanned a QR code: it verifies the pairing
// JWS, uses up the pairing token, admits the device (an active device of
// the user, or a new one when allow_new_device is true) and starts the
// phone's part of the workflow. Every refusal is audited.
//
// The pairing token is used up by the request's one commit, with the
// device, the verification's change and the challenge of the device's next
// request; a refusal uses it up with its audit entry, and any other
// failure by a write of its own.
func (e *Engine) Pair(ctx context.Context, compact, addr string) (_ *deviceproto.Session, err error) {
	claims, jwk, thumb, err := deviceproto.VerifyPair(compact)
	if err != nil {
		return nil, e.deviceRefusal(ctx, nil, "", addr, err)
	}
	now := e.Now()
	if err := checkIAT(claims.IssuedAt, now); err != nil {
		return nil, e.deviceRefusal(ctx, nil, "", addr, err)
	}
	h := hash(claims.PairingToken)
	p, err := e.Store.PeekPairing(ctx, h, now)
	switch tandem.ErrorCode(err) {
	case "":
	case tandem.ENOTFOUND:
		return nil, e.deviceRefusal(ctx, nil, "", addr, errPairingInvalid())
	case tandem.EGONE:
		// An expired token is used up all the same.
		if _, uerr := e.Store.UsePairing(ctx, h, now); uerr != nil && tandem.ErrorCode(uerr) != tandem.EGONE && tandem.ErrorCode(uerr) != tandem.ENOTFOUND {
			return nil, uerr
		}
		return nil, e.deviceRefusal(ctx, nil, "", addr, tandem.Refusef(tandem.EGONE, "pairing_expired", "This code has expired. Scan the new code that the web page shows."))
	default:
		return nil, err
	}
	u := &use{e: e, pairing: &tandem.PairingUse{Hash: h, At: now}, addr: addr}
	defer func() { err = u.finish(ctx, err) }()
	v, err := e.Store.GetVerification(ctx, p.VerificationID)
	if err != nil {
		return nil, err
	}
	if v, err = e.expireIfDue(ctx, v); err != nil {
		return nil, err
	}
	if v.Status != tandem.StatusInProgress || v.Current() != p.Step || v.Steps[p.Step].Status != tandem.StepRunning {
		return nil, e.refuse(ctx, u, v, "", addr, tandem.Refusef(tandem.ECONFLICT, "verification_ended", "This verification is no longer waiting for a phone."))
	}
	if v.Device.CredID != "" {
		return nil, e.refuse(ctx, u, v, "", addr, tandem.Refusef(tandem.ECONFLICT, "handover_taken", "Another phone is already continuing this verification."))
	}
	pubJSON, err := jwk.MarshalJSON()
	if err != nil {
		return nil, err
	}
	dev, err := e.Store.DeviceByThumbprint(ctx, v.Workspace, thumb)
	stored := &tandem.Device{} // the phone as stored before this request; zero when it is not
	if err == nil {
		s := *dev
		stored = &s
	}
	isNew := false
	switch {
	case tandem.ErrorCode(err) == tandem.ENOTFOUND:
		dev = &tandem.Device{CredID: newCredID(), Workspace: v.Workspace, UserID: v.UserID, PublicKey: pubJSON, Thumbprint: thumb, State: tandem.DevicePending, CreatedAt: now}
		isNew = true
	case err != nil:
		return nil, err
	case dev.State == tandem.DeviceRevoked:
		return nil, e.refuseOnWeb(ctx, u, v, p.Step, dev.CredID, addr, tandem.Refusef(tandem.EFORBIDDEN, "device_revoked", "This phone was removed from this account and cannot be used any more."),
			"A phone that was removed from this account tried to continue. Use a registered phone.")
	case dev.UserID != v.UserID:
		return nil, e.refuseOnWeb(ctx, u, v, p.Step, dev.CredID, addr, tandem.Refusef(tandem.EFORBIDDEN, "device_other_user", "This phone is registered to another person and cannot be used for this verification."),
			"A phone registered to another person tried to continue. Use your own phone.")
	case dev.State == tandem.DevicePending:
		isNew = true
	}
	if isNew && !v.AllowNewDevice {
		return nil, e.refuseOnWeb(ctx, u, v, p.Step, "", addr, tandem.Refusef(tandem.EFORBIDDEN, "device_not_registered", "This phone is not registered for this person, and this verification accepts registered phones only."),
			"A phone that is not registered for you tried to continue. Scan the code with a phone you registered before.")
	}
	dev.Name, dev.Platform = truncate(claims.DeviceName, 100), truncate(claims.Platform, 40)
	dev.LastSeenAt, dev.UpdatedAt = now, now
	v.Device = tandem.DeviceContext{CredID: dev.CredID, New: isNew, Platform: dev.Platform, PushType: dev.PushType, PushToken: dev.PushToken, PairedAt: now}
	if cfg, err := handoverConfig(e, v.Modules[p.Step]); err == nil {
		v.Device.Application = cfg.DeviceApplication
	}
	c := tandem.Commit{Verification: v, Devices: []*tandem.Device{dev}, Withdraw: v.ID}
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "paired", addr, now, map[string]any{"cred_id": dev.CredID, "new_device": isNew, "platform": dev.Platform}))
	if err := e.runDevice(ctx, v, now, addr, &c, stored); err != nil {
		return nil, err
	}
	next := e.nextChallenge(dev.CredID, v.ID, now)
	c.Challenges = append(c.Challenges, next)
	if err := u.commit(ctx, c); err != nil {
		return nil, err
	}
	e.published(ctx, v, now)
	return e.session(ctx, v, dev.CredID, "", &next)
}

// refuseOnWeb audits a refused device, tells the web page what happened
// (the hand-over step's reason, shown while it waits), with the use of the
// request's token u, and returns err.
func (e *Engine) refuseOnWeb(ctx context.Context, u *use, v *tandem.Verification, step int, credID, addr string, err error, webNote string) error {
	v.Steps[step].Reason = webNote
	v.UpdatedAt = e.Now()
	c := tandem.Commit{Verification: v}
	detail := map[string]any{"reason": tandem.ErrorReason(err), "message": tandem.ErrorMessage(err)}
	if credID != "" {
		detail["cred_id"] = credID
	}
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "refused.device", addr, v.UpdatedAt, detail))
	if cerr := u.commit(ctx, c); cerr != nil && tandem.ErrorCode(cerr) != tandem.ECONFLICT {
		return cerr
	}
	e.Events.Publish(v.ID)
	return err
}

// Challenge issues a single-use challenge to a known device.
func (e *Engine) Challenge(ctx context.Context, credID, addr string) (*deviceproto.ChallengeResponse, error) {
	dev, err := e.Store.GetDevice(ctx, credID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND || (err == nil && dev.State == tandem.DeviceRevoked) {
		return nil, e.deviceRefusal(ctx, nil, credID, addr, tandem.Refusef(tandem.EUNAUTHORIZED, "unknown_credential", "This device is not known here. Pair it again by scanning a code."))
	} else if err != nil {
		return nil, err
	}
	return e.newChallenge(ctx, credID, "")
}

func (e *Engine) newChallenge(ctx context.Context, credID, verificationID string) (*deviceproto.ChallengeResponse, error) {
	now := e.Now()
	c := tandem.Challenge{Value: randomToken(), CredID: credID, VerificationID: verificationID, ExpiresAt: now.Add(ChallengeTTL)}
	if err := e.Store.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &deviceproto.ChallengeResponse{Challenge: c.Value, ChallengeExpiresAt: c.ExpiresAt.Unix()}, nil
}

// authenticate verifies a signed device request: a known, not revoked
// device's key, a fresh issue time, and an unused challenge of that
// device (consumed now). Every refusal is audited.
func (e *Engine) authenticate(ctx context.Context, compact, addr, action string) (*deviceproto.RequestClaims, *tandem.Device, error) {
	claims, dev, err := e.checkRequest(ctx, compact, addr, action)
	if err != nil {
		return nil, nil, err
	}
	kid := dev.CredID
	ch, err := e.Store.UseChallenge(ctx, claims.Challenge, kid, e.Now())
	switch tandem.ErrorCode(err) {
	case "":
	case tandem.ENOTFOUND:
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, errChallengeInvalid())
	case tandem.EGONE:
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, errChallengeExpired())
	default:
		return nil, nil, err
	}
	if ch.VerificationID != "" && ch.VerificationID != claims.VerificationID {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, errWrongVerification())
	}
	return claims, dev, nil
}

// authenticateOnce verifies a signed device request as authenticate does,
// but checks its challenge without consuming it: the returned use consumes
// it with the request's one write, and its finish must be called when the
// request ends (see use).
func (e *Engine) authenticateOnce(ctx context.Context, compact, addr, action string) (*deviceproto.RequestClaims, *tandem.Device, *use, error) {
	claims, dev, err := e.checkRequest(ctx, compact, addr, action)
	if err != nil {
		return nil, nil, nil, err
	}
	kid := dev.CredID
	now := e.Now()
	ch, err := e.Store.PeekChallenge(ctx, claims.Challenge, kid, now)
	switch tandem.ErrorCode(err) {
	case "":
	case tandem.ENOTFOUND:
		return nil, nil, nil, e.deviceRefusal(ctx, nil, kid, addr, errChallengeInvalid())
	case tandem.EGONE:
		// An expired challenge is used up all the same.
		if _, uerr := e.Store.UseChallenge(ctx, claims.Challenge, kid, now); uerr != nil && tandem.ErrorCode(uerr) != tandem.EGONE && tandem.ErrorCode(uerr) != tandem.ENOTFOUND {
			return nil, nil, nil, uerr
		}
		return nil, nil, nil, e.deviceRefusal(ctx, nil, kid, addr, errChallengeExpired())
	default:
		return nil, nil, nil, err
	}
	u := &use{e: e, challenge: &tandem.ChallengeUse{Value: claims.Challenge, CredID: kid, At: now}, credID: kid, addr: addr}
	if ch.VerificationID != "" && ch.VerificationID != claims.VerificationID {
		return nil, nil, nil, e.refuse(ctx, u, nil, kid, addr, errWrongVerification())
	}
	return claims, dev, u, nil
}

func errChallengeExpired() error {
	return tandem.Refusef(tandem.EUNAUTHORIZED, "challenge_expired", "The challenge has expired; fetch a new one.")
}

func errWrongVerification() error {
	return tandem.Refusef(tandem.EUNAUTHORIZED, "wrong_verification", "The challenge was issued for another verification.")
}

// checkRequest verifies all of a signed device request but its challenge:
// a known, not revoked device's key, a fresh issue time and the action.
// Every refusal is audited.
func (e *Engine) checkRequest(ctx context.Context, compact, addr, action string) (*deviceproto.RequestClaims, *tandem.Device, error) {
	kid, err := deviceproto.KeyID(compact)
	if err != nil {
		return nil, nil, e.deviceRefusal(ctx, nil, "", addr, err)
	}
	dev, err := e.Store.GetDevice(ctx, kid)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, tandem.Refusef(tandem.EUNAUTHORIZED, "unknown_credential", "This device is not known here. Pair it again by scanning a code."))
	} else if err != nil {
		return nil, nil, err
	}
	if dev.State == tandem.DeviceRevoked {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, tandem.Refusef(tandem.EFORBIDDEN, "device_revoked", "This phone was removed from this account and cannot be used any more."))
	}
	claims, err := deviceproto.VerifyRequest(compact, dev.PublicKey)
	if err != nil {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, err)
	}
	now := e.Now()
	if err := checkIAT(claims.IssuedAt, now); err != nil {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, err)
	}
	if claims.Action != action {
		return nil, nil, e.deviceRefusal(ctx, nil, kid, addr, tandem.Refusef(tandem.EINVALID, "wrong_action", "This endpoint takes action %q, not %q.", action, claims.Action))
	}
	return claims, dev, nil
}

func checkIAT(iat int64, now time.Time) error {
	t := time.Unix(iat, 0)
	if iat == 0 || t.Before(now.Add(-deviceproto.MaxClockSkew)) || t.After(now.Add(deviceproto.MaxClockSkew)) {
		return tandem.Refusef(tandem.EUNAUTHORIZED, "stale_request", "The message's issue time (iat) is more than %s away from the server's clock; check the phone's clock.", deviceproto.MaxClockSkew)
	}
	return nil
}

// verificationFor loads the verification a device request is about and
// checks that this device is the one paired to it. A refusal uses up u (nil
// when the request's challenge is used up already).
func (e *Engine) verificationFor(ctx context.Context, u *use, claims *deviceproto.RequestClaims, addr string) (*tandem.Verification, error) {
	v, err := e.Store.GetVerification(ctx, claims.VerificationID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND || (err == nil && v.Device.CredID != claims.CredID) {
		return nil, e.refuse(ctx, u, nil, claims.CredID, addr, tandem.Refusef(tandem.EFORBIDDEN, "wrong_verification", "This device is not paired to that verification."))
	} else if err != nil {
		return nil, err
	}
	return e.expireIfDue(ctx, v)
}

// DeviceSession returns the state of the hand-over a device is paired to.
func (e *Engine) DeviceSession(ctx context.Context, compact, addr string) (*deviceproto.Session, error) {
	claims, _, err := e.authenticate(ctx, compact, addr, deviceproto.ActionSession)
	if err != nil {
		return nil, err
	}
	v, err := e.verificationFor(ctx, nil, claims, addr)
	if err != nil {
		return nil, err
	}
	return e.session(ctx, v, claims.CredID, "", nil)
}

// Answer takes a device's answer to its current step (or its denial). The
// request's challenge is consumed by its one commit, with the step's
// outcome and the challenge of the device's next request (see use).
func (e *Engine) Answer(ctx context.Context, compact, addr string) (_ *deviceproto.Session, err error) {
	action := deviceproto.ActionAnswer
	if a, err := peekAction(compact); err == nil && a == deviceproto.ActionDeny {
		action = deviceproto.ActionDeny
	}
	claims, dev, u, err := e.authenticateOnce(ctx, compact, addr, action)
	if err != nil {
		return nil, err
	}
	defer func() { err = u.finish(ctx, err) }()
	v, err := e.verificationFor(ctx, u, claims, addr)
	if err != nil {
		return nil, err
	}
	if v.Status.Terminal() {
		return nil, e.refuse(ctx, u, v, claims.CredID, addr, tandem.Refusef(tandem.ECONFLICT, "verification_ended", "This verification has already ended (%s).", v.Status))
	}
	cur := v.CurrentDevice()
	if cur < 0 || claims.Step == nil || *claims.Step != cur {
		return nil, e.refuse(ctx, u, v, claims.CredID, addr, tandem.Refusef(tandem.ECONFLICT, "wrong_step", "This answer is for another step; read the session again."))
	}
	now := e.Now()
	stored := *dev
	dev.LastSeenAt, dev.UpdatedAt = now, now
	next := e.nextChallenge(dev.CredID, v.ID, now)
	c := tandem.Commit{Verification: v, Devices: []*tandem.Device{dev}, Challenges: []tandem.Challenge{next}}
	if action == deviceproto.ActionDeny {
		e.failHandover(v, v.Steps[cur].Group, now, "The person on the phone said this wasn't them.", &c)
		c.UserEvents = append(c.UserEvents, e.userEvent(v, tandem.UserDenied, now))
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "denied", addr, now, map[string]any{"cred_id": dev.CredID, "step": cur, "web_ip": v.Web.BrowserIP, "web_user_agent": v.Web.BrowserUserAgent}))
		if err := u.commit(ctx, c); err != nil {
			return nil, err
		}
		e.published(ctx, v, now)
		return e.session(ctx, v, dev.CredID, "", &next)
	}
	m := v.Modules[cur]
	info, _ := e.Modules.Lookup(m.Type)
	cfg, ferrs := e.decodeConfig(m.Type, m.Configs)
	if len(ferrs) > 0 || info.Device == nil {
		return nil, fmt.Errorf("verification %s step %d: not a device step", v.ID, cur)
	}
	modState, _ := splitState(v.Steps[cur].State)
	out, err := info.Device.Answer(ctx, e.deviceInput(ctx, v, cfg, now, &stored), modState, claims.Answer)
	if err != nil {
		return nil, fmt.Errorf("verification %s step %d (%s): %w", v.ID, cur, m.Type, err)
	}
	step := &v.Steps[cur]
	if len(out.Retry) > 0 {
		if out.CountAttempt {
			step.Attempts++
		}
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "step.rejected_input", addr, now, map[string]any{"step": cur, "type": m.Type, "attempt": step.Attempts, "problem": out.Retry[0].Message}))
		if step.Attempts < module.MaxAttempts {
			if err := u.commit(ctx, c); err != nil {
				return nil, err
			}
			return e.session(ctx, v, dev.CredID, out.Retry[0].Message, &next)
		}
		out = module.Outcome{Passed: false, Reason: "Too many attempts: " + out.Retry[0].Message}
	}
	if err := e.finishDeviceStep(ctx, v, cur, out, now, addr, &c, &stored); err != nil {
		return nil, err
	}
	if err := u.commit(ctx, c); err != nil {
		return nil, err
	}
	e.published(ctx, v, now)
	return e.session(ctx, v, dev.CredID, "", &next)
}

func peekAction(compact string) (string, error) {
	// The action decides which check applies; it is verified with the
	// signature afterwards, so reading it unverified here is safe.
	parts := strings.Split(compact, ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("malformed JWS")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var c struct {
		Action string `json:"action"`
	}
	return c.Action, json.Unmarshal(raw, &c)
}

// finishDeviceStep records a device step's outcome, applies its effects
// and runs on: the next device steps, then the web flow. stored is the
// paired device as stored when the request began, as for deviceInput.
func (e *Engine) finishDeviceStep(ctx context.Context, v *tandem.Verification, i int, out module.Outcome, now time.Time, addr string, c *tandem.Commit, stored *tandem.Device) error {
	step := &v.Steps[i]
	if out.Passed && out.Effects.Register != nil {
		if msg, err := e.register(ctx, v, out.Effects.Register, now, c); err != nil {
			return err
		} else if msg != "" {
			out = module.Outcome{Passed: false, Reason: msg, Claims: map[string]string{"device_registered": "false", "device_registered_at": Unix(now), "web_2_device_cred_id": v.Device.CredID}}
		}
	}
	if v.Claims == nil {
		v.Claims = map[string]string{}
	}
	maps.Copy(v.Claims, out.Claims)
	for _, kind := range out.Effects.Record {
		c.UserEvents = append(c.UserEvents, e.userEvent(v, kind, now))
	}
	step.FinishedAt = now
	if !out.Passed {
		step.Status, step.Reason = tandem.StepFailed, out.Reason
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "step.failed", addr, now, map[string]any{"step": i, "type": step.Type, "reason": out.Reason}))
		e.failHandover(v, step.Group, now, out.Reason, c)
		return nil
	}
	step.Status = tandem.StepPassed
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "step.passed", addr, now, map[string]any{"step": i, "type": step.Type}))
	return e.runDevice(ctx, v, now, addr, c, stored)
}

// register makes the paired device an active device of the user, within
// the limit. It returns a reason when the limit refuses it.
func (e *Engine) register(ctx context.Context, v *tandem.Verification, r *module.Registration, now time.Time, c *tandem.Commit) (string, error) {
	devs, err := e.Store.ListDevices(ctx, v.Workspace, v.UserID)
	if err != nil {
		return "", err
	}
	active := 0
	for _, d := range devs {
		if d.State == tandem.DeviceActive && d.CredID != v.Device.CredID {
			active++
		}
	}
	if r.ClearExisting {
		c.RevokeOthers = &tandem.RevokeOthers{Workspace: v.Workspace, UserID: v.UserID, KeepCredID: v.Device.CredID, At: now}
		active = 0
	}
	if active+1 > r.MaxDevices {
		return fmt.Sprintf("This person already has %d registered phone(s), the most allowed. Remove one before registering another.", active), nil
	}
	for _, d := range c.Devices {
		if d.CredID == v.Device.CredID {
			d.State, d.UserID = tandem.DeviceActive, v.UserID
		}
	}
	v.Device.New = false
	return "", nil
}

// runDevice starts the next device steps of the running hand-over until
// one needs the phone; when none is left, the hand-over passes and the web
// flow goes on. stored is the paired device as stored when the request
// began, as for deviceInput.
func (e *Engine) runDevice(ctx context.Context, v *tandem.Verification, now time.Time, addr string, c *tandem.Commit, stored *tandem.Device) error {
	for {
		if v.Status.Terminal() {
			return nil
		}
		i := v.CurrentDevice()
		wtd := v.Current()
		if i < 0 || v.Steps[i].Group != wtd {
			return e.passHandover(ctx, v, wtd, now, addr, c)
		}
		step := &v.Steps[i]
		if step.Status == tandem.StepRunning {
			return nil
		}
		m := v.Modules[i]
		skip := e.skipReason(ctx, v, m, now)
		if skip != "" {
			step.Status, step.Reason, step.StartedAt, step.FinishedAt = tandem.StepSkipped, skip, now, now
			c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.skipped", addr, now, map[string]any{"step": i, "type": m.Type, "reason": skip}))
			continue
		}
		info, ok := e.Modules.Lookup(m.Type)
		cfg, ferrs := e.decodeConfig(m.Type, m.Configs)
		if !ok || info.Device == nil || len(ferrs) > 0 {
			return fmt.Errorf("verification %s step %d: %s cannot run on a device", v.ID, i, m.Type)
		}
		start, err := info.Device.Start(ctx, e.deviceInput(ctx, v, cfg, now, stored))
		if err != nil {
			return fmt.Errorf("verification %s step %d (%s): start: %w", v.ID, i, m.Type, err)
		}
		step.Status, step.StartedAt = tandem.StepRunning, now
		step.State = joinState(start.State, start.Web)
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.started", addr, now, map[string]any{"step": i, "type": m.Type}))
		if start.Outcome != nil {
			if err := e.finishDeviceStep(ctx, v, i, *start.Outcome, now, addr, c, stored); err != nil {
				return err
			}
			return nil
		}
		return nil
	}
}

// passHandover ends the web_to_device step at i successfully: the phone's
// claims are merged with the hand-over's own, a new device is registered,
// and the web flow goes on.
func (e *Engine) passHandover(ctx context.Context, v *tandem.Verification, i int, now time.Time, addr string, c *tandem.Commit) error {
	if i < 0 || v.Steps[i].Type != webtodevice.Type || v.Steps[i].Status != tandem.StepRunning {
		return nil
	}
	if v.Device.New {
		// allow_new_device admitted an unknown phone: it is registered
		// now that the phone's part passed.
		for _, d := range c.Devices {
			if d.CredID == v.Device.CredID {
				d.State = tandem.DeviceActive
			}
		}
		if len(c.Devices) == 0 {
			dev, err := e.Store.GetDevice(ctx, v.Device.CredID)
			if err != nil {
				return err
			}
			dev.State, dev.UpdatedAt = tandem.DeviceActive, now
			c.Devices = append(c.Devices, dev)
		}
		v.Device.New = false
	}
	e.handoverClaims(v, true)
	v.Steps[i].Status, v.Steps[i].FinishedAt, v.Steps[i].Reason = tandem.StepPassed, now, ""
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.passed", addr, now, map[string]any{"step": i, "type": webtodevice.Type}))
	e.advance(ctx, v, now, addr, c)
	return nil
}

// failHandover fails the hand-over at step i and the verification.
func (e *Engine) failHandover(v *tandem.Verification, i int, now time.Time, reason string, c *tandem.Commit) {
	for j := range v.Steps {
		s := &v.Steps[j]
		if s.Side == SideDevice && s.Group == i && !s.Status.Done() {
			if s.Status == tandem.StepRunning {
				s.Status, s.Reason, s.FinishedAt = tandem.StepFailed, reason, now
			} else {
				s.Status, s.Reason, s.StartedAt, s.FinishedAt = tandem.StepSkipped, "An earlier step on the phone failed.", now, now
			}
		}
	}
	e.handoverClaims(v, false)
	if i >= 0 && i < len(v.Steps) {
		v.Steps[i].Status, v.Steps[i].Reason, v.Steps[i].FinishedAt = tandem.StepFailed, reason, now
	}
	if err := e.transition(v, tandem.StatusFailed, now, c); err == nil {
		v.Reason = reason
		c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "failed", "", now, nil))
	}
}

func (e *Engine) handoverClaims(v *tandem.Verification, passed bool) {
	if v.Claims == nil {
		v.Claims = map[string]string{}
	}
	v.Claims["web_to_device"] = fmt.Sprint(passed)
	v.Claims["allow_new_device"] = fmt.Sprint(v.AllowNewDevice)
	v.Claims["web_2_device_cred_id"] = v.Device.CredID
	v.Claims["push_type"] = v.Device.PushType
	v.Claims["push_token"] = v.Device.PushToken
	v.Claims["web_ip"] = v.Web.BrowserIP
	if v.Claims["web_ip"] == "" {
		v.Claims["web_ip"] = v.Web.IP
	}
}

// deviceInput is what a device step's module gets. DeviceActive tells
// whether the paired device was an active device of the user as stored
// when the request began: stored is that device (a zero Device when it was
// not stored yet), or nil to read it from the store now.
func (e *Engine) deviceInput(ctx context.Context, v *tandem.Verification, cfg module.Config, now time.Time, stored *tandem.Device) module.DeviceInput {
	in := module.DeviceInput{
		VerificationID: v.ID, Workspace: v.Workspace, UserID: v.UserID, AllowNewDevice: v.AllowNewDevice,
		Config: cfg, Claims: maps.Clone(v.Claims), Device: v.Device, Web: v.Web, Now: now,
		History: userHistory{store: e.Store, workspace: v.Workspace, userID: v.UserID},
	}
	switch {
	case v.Device.CredID == "":
	case stored != nil:
		in.DeviceActive = stored.CredID == v.Device.CredID && stored.State == tandem.DeviceActive && stored.UserID == v.UserID
	default:
		if d, err := e.Store.GetDevice(ctx, v.Device.CredID); err == nil {
			in.DeviceActive = d.State == tandem.DeviceActive && d.UserID == v.UserID
		}
	}
	return in
}

// stepState is how the engine keeps a device step's module state together
// with what the web page shows during the step.
type stepState struct {
	Module []byte        `json:"m,omitempty"`
	Web    []module.Node `json:"web,omitempty"`
}

func joinState(m []byte, web []module.Node) json.RawMessage {
	if m == nil && web == nil {
		return nil
	}
	b, _ := json.Marshal(stepState{Module: m, Web: web})
	return b
}

func splitState(raw json.RawMessage) ([]byte, []module.Node) {
	if len(raw) == 0 {
		return nil, nil
	}
	var s stepState
	if json.Unmarshal(raw, &s) != nil {
		return nil, nil
	}
	return s.Module, s.Web
}

// session builds the device's view of the hand-over, with the challenge
// for its next request: next, stored already by the request's commit, or
// when nil a new one stored now.
func (e *Engine) session(ctx context.Context, v *tandem.Verification, credID, retryError string, next *tandem.Challenge) (*deviceproto.Session, error) {
	var ch *deviceproto.ChallengeResponse
	if next != nil {
		ch = &deviceproto.ChallengeResponse{Challenge: next.Value, ChallengeExpiresAt: next.ExpiresAt.Unix()}
	} else {
		var err error
		if ch, err = e.newChallenge(ctx, credID, v.ID); err != nil {
			return nil, err
		}
	}
	s := &deviceproto.Session{
		CredID: credID, VerificationID: v.ID, Status: "in_progress",
		Context:   deviceproto.Context{Application: v.Device.Application, WebIP: v.Web.BrowserIP, WebUserAgent: v.Web.BrowserUserAgent, RequestedAt: v.CreatedAt.Unix(), BindingMessage: v.Web.BindingMessage},
		Challenge: ch.Challenge, ChallengeExpiresAt: ch.ChallengeExpiresAt,
	}
	i := v.CurrentDevice()
	switch {
	case v.Status == tandem.StatusFailed && handoverFailed(v):
		s.Status, s.Message = "failed", v.Reason
	case v.Status.Terminal() && i >= 0:
		s.Status, s.Message = "failed", "The verification ended: "+string(v.Status)+"."
	case i < 0:
		s.Status, s.Message = "passed", "Done. Continue on the web page."
	default:
		m := v.Modules[i]
		info, _ := e.Modules.Lookup(m.Type)
		cfg, _ := e.decodeConfig(m.Type, m.Configs)
		modState, _ := splitState(v.Steps[i].State)
		p := &deviceproto.Prompt{Index: i, Type: m.Type, DisplayName: m.DisplayName, Error: retryError}
		if info.Device != nil {
			p.Nodes = info.Device.Prompt(cfg, modState)
		}
		if p.Nodes == nil {
			p.Nodes = []module.Node{}
		}
		s.Step = p
	}
	return s, nil
}

func handoverFailed(v *tandem.Verification) bool {
	for _, s := range v.Steps {
		if s.Type == webtodevice.Type && s.Status == tandem.StepFailed {
			return true
		}
	}
	return false
}

// published signals the web page (and waiting devices) after a commit and
// notifies phones when a push-mode hand-over has just started.
func (e *Engine) published(ctx context.Context, v *tandem.Verification, now time.Time) {
	e.Events.Publish(v.ID)
	i := v.Current()
	if i < 0 || v.Steps[i].Type != webtodevice.Type || v.Steps[i].Status != tandem.StepRunning || !v.Steps[i].StartedAt.Equal(now) || v.Device.CredID != "" {
		return
	}
	if err := e.notifyDevices(ctx, v, i, now); err != nil {
		e.log().Error("push-mode hand-over: notifying devices failed", "verification", v.ID, "err", err)
	}
}

// notifyDevices puts a prompt in the inbox of every active device of the
// user and pushes to them, when the hand-over at i is in push mode.
func (e *Engine) notifyDevices(ctx context.Context, v *tandem.Verification, i int, now time.Time) error {
	n, app, err := e.notification(ctx, v, i)
	if err != nil || n != tandem.NotifyPush {
		return err
	}
	if needsLocation(v, i) && v.Web.Location == nil {
		return nil // pushed once the browser's location is recorded
	}
	devs, err := e.Store.ListDevices(ctx, v.Workspace, v.UserID)
	if err != nil {
		return err
	}
	if note, err := e.pushSuppressed(ctx, v, i, now); err != nil {
		return err
	} else if note != "" {
		v.Steps[i].Reason = note
		c := tandem.Commit{Verification: v, Audit: []tandem.AuditEvent{e.audit(v.Workspace, v.ID, tandem.ActorSystem, "push.suppressed", "", now, map[string]any{"reason": note})}}
		if err := e.commit(ctx, c); err != nil && tandem.ErrorCode(err) != tandem.ECONFLICT {
			return err
		}
		e.Events.Publish(v.ID)
		return nil
	}
	c := tandem.Commit{}
	var targets []tandem.Device
	for _, d := range devs {
		if d.State == tandem.DeviceActive {
			targets = append(targets, d)
			c.Inbox = append(c.Inbox, tandem.InboxItem{CredID: d.CredID, VerificationID: v.ID, Step: i, CreatedAt: now, ExpiresAt: v.ExpiresAt})
		}
	}
	if len(targets) == 0 {
		return nil
	}
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "pushed", "", now, map[string]any{"devices": len(targets)}))
	c.UserEvents = append(c.UserEvents, e.userEvent(v, tandem.UserPushed, now))
	if err := e.commit(ctx, c); err != nil {
		return err
	}
	for k := range targets {
		d := &targets[k]
		if e.Inboxes != nil {
			e.Inboxes.Publish(d.CredID)
		}
		if e.Push != nil && d.PushToken != "" {
			msg := PushMessage{VerificationID: v.ID}
			if app.Mobile != nil {
				msg.Title, msg.Body = app.Mobile.PushTitle, app.Mobile.PushBody
			}
			if err := e.Push.Push(ctx, d, msg); err != nil {
				e.log().Warn("push failed", "cred_id", d.CredID, "err", err)
				if errors.Is(err, ErrPushGone) {
					if err := e.revokePush(ctx, d, v.ID, err); err != nil {
						e.log().Error("clearing a push subscription that is gone failed", "cred_id", d.CredID, "err", err)
					}
				}
			}
		}
	}
	return nil
}

// RegisterPush stores the push registration of the device that signs the
// request (action push_register, claim push): a Web Push subscription or an
// FCM token, or nothing (an empty type) to clear it. An invalid
// registration is EINVALID with reason "bad_push". The answer carries a
// challenge for the device's next request.
func (e *Engine) RegisterPush(ctx context.Context, compact, addr string) (*deviceproto.ChallengeResponse, error) {
	claims, dev, err := e.authenticate(ctx, compact, addr, deviceproto.ActionPushRegister)
	if err != nil {
		return nil, err
	}
	if claims.Push == nil {
		return nil, e.deviceRefusal(ctx, nil, dev.CredID, addr, tandem.Refusef(tandem.EINVALID, "bad_push", "The request carries no push registration: send {\"push\": {\"type\": …, \"token\": …}}, or an empty type and token to clear it."))
	}
	if err := claims.Push.Check(); err != nil {
		return nil, e.deviceRefusal(ctx, nil, dev.CredID, addr, err)
	}
	now := e.Now()
	dev.PushType, dev.PushToken = claims.Push.Type, claims.Push.Token
	dev.LastSeenAt, dev.UpdatedAt = now, now
	action := "push.registered"
	if dev.PushType == "" {
		action = "push.cleared"
	}
	// The token is a capability (whoever holds a Web Push endpoint and keys
	// can push to the phone): it is not audited.
	c := tandem.Commit{Devices: []*tandem.Device{dev}, Audit: []tandem.AuditEvent{
		e.audit(dev.Workspace, "", tandem.ActorDevice, action, addr, now, map[string]any{"cred_id": dev.CredID, "push_type": dev.PushType}),
	}}
	if err := e.commit(ctx, c); err != nil {
		return nil, err
	}
	return e.newChallenge(ctx, dev.CredID, "")
}

// revokePush clears the push registration of d after its push service said
// it is gone (cause wraps ErrPushGone), unless the device registered
// another one since d was read, and audits it with the verification whose
// prompt failed to reach it.
func (e *Engine) revokePush(ctx context.Context, d *tandem.Device, verificationID string, cause error) error {
	cur, err := e.Store.GetDevice(ctx, d.CredID)
	if err != nil {
		return err
	}
	if cur.PushToken == "" || cur.PushType != d.PushType || cur.PushToken != d.PushToken {
		return nil
	}
	now := e.Now()
	detail := map[string]any{"cred_id": cur.CredID, "push_type": cur.PushType, "reason": cause.Error()}
	cur.PushType, cur.PushToken, cur.UpdatedAt = "", "", now
	return e.commit(ctx, tandem.Commit{Devices: []*tandem.Device{cur}, Audit: []tandem.AuditEvent{
		e.audit(cur.Workspace, verificationID, tandem.ActorSystem, "push.subscription_revoked", "", now, detail),
	}})
}

// Inbox returns the prompts waiting for a device, waiting up to wait for
// one to arrive.
func (e *Engine) Inbox(ctx context.Context, compact, addr string, wait time.Duration) (*deviceproto.InboxResponse, error) {
	claims, dev, err := e.authenticate(ctx, compact, addr, deviceproto.ActionInbox)
	if err != nil {
		return nil, err
	}
	var sig <-chan struct{}
	if e.Inboxes != nil && wait > 0 {
		ch, cancel := e.Inboxes.Subscribe(dev.CredID)
		defer cancel()
		sig = ch
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		items, err := e.Store.Inbox(ctx, dev.CredID, e.Now())
		if err != nil {
			return nil, err
		}
		if len(items) > 0 || sig == nil {
			return e.inboxResponse(ctx, claims.CredID, items)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return e.inboxResponse(ctx, claims.CredID, nil)
		case <-sig:
		}
	}
}

func (e *Engine) inboxResponse(ctx context.Context, credID string, items []tandem.InboxItem) (*deviceproto.InboxResponse, error) {
	out := &deviceproto.InboxResponse{Prompts: []deviceproto.InboxPrompt{}}
	for _, it := range items {
		v, err := e.Store.GetVerification(ctx, it.VerificationID)
		if err != nil {
			continue
		}
		out.Prompts = append(out.Prompts, deviceproto.InboxPrompt{
			VerificationID: v.ID, ExpiresAt: it.ExpiresAt.Unix(),
			Context: deviceproto.Context{Application: handoverApp(e, v, it.Step), WebIP: v.Web.BrowserIP, WebUserAgent: v.Web.BrowserUserAgent, RequestedAt: v.CreatedAt.Unix(), BindingMessage: v.Web.BindingMessage},
		})
	}
	ch, err := e.newChallenge(ctx, credID, "")
	if err != nil {
		return nil, err
	}
	out.Challenge, out.ChallengeExpiresAt = ch.Challenge, ch.ChallengeExpiresAt
	return out, nil
}

func handoverApp(e *Engine, v *tandem.Verification, i int) string {
	if i < 0 || i >= len(v.Modules) {
		return ""
	}
	if cfg, err := handoverConfig(e, v.Modules[i]); err == nil {
		return cfg.DeviceApplication
	}
	return ""
}

// Accept lets an active device of the user take a push-mode prompt: the
// first device to accept wins and the others' prompts are withdrawn. The
// request's challenge is consumed by its one commit, with the hand-over's
// start and the challenge of the device's next request (see use).
func (e *Engine) Accept(ctx context.Context, compact, addr string) (_ *deviceproto.Session, err error) {
	claims, dev, u, err := e.authenticateOnce(ctx, compact, addr, deviceproto.ActionAccept)
	if err != nil {
		return nil, err
	}
	defer func() { err = u.finish(ctx, err) }()
	v, err := e.Store.GetVerification(ctx, claims.VerificationID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil, e.refuse(ctx, u, nil, dev.CredID, addr, tandem.Refusef(tandem.ENOTFOUND, "wrong_verification", "There is no such prompt."))
	} else if err != nil {
		return nil, err
	}
	if v, err = e.expireIfDue(ctx, v); err != nil {
		return nil, err
	}
	if dev.UserID != v.UserID || v.Workspace != dev.Workspace || dev.State != tandem.DeviceActive {
		return nil, e.refuse(ctx, u, v, dev.CredID, addr, tandem.Refusef(tandem.EFORBIDDEN, "device_other_user", "This prompt is for another person's phone."))
	}
	i := v.Current()
	if v.Status != tandem.StatusInProgress || i < 0 || v.Steps[i].Type != webtodevice.Type {
		return nil, e.refuse(ctx, u, v, dev.CredID, addr, tandem.Refusef(tandem.ECONFLICT, "verification_ended", "This verification is no longer waiting for a phone."))
	}
	if v.Device.CredID != "" {
		return nil, e.refuse(ctx, u, v, dev.CredID, addr, tandem.Refusef(tandem.ECONFLICT, "handover_taken", "Another phone already answered this prompt."))
	}
	now := e.Now()
	stored := *dev
	dev.LastSeenAt, dev.UpdatedAt = now, now
	v.Device = tandem.DeviceContext{CredID: dev.CredID, Platform: dev.Platform, PushType: dev.PushType, PushToken: dev.PushToken, Application: handoverApp(e, v, i), PairedAt: now}
	c := tandem.Commit{Verification: v, Devices: []*tandem.Device{dev}, Withdraw: v.ID}
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorDevice, "accepted", addr, now, map[string]any{"cred_id": dev.CredID}))
	c.UserEvents = append(c.UserEvents, e.userEvent(v, tandem.UserAnswered, now))
	if err := e.runDevice(ctx, v, now, addr, &c, &stored); err != nil {
		return nil, err
	}
	next := e.nextChallenge(dev.CredID, v.ID, now)
	c.Challenges = append(c.Challenges, next)
	if err := u.commit(ctx, c); err != nil {
		if tandem.ErrorCode(err) == tandem.ECONFLICT {
			return nil, e.refuse(ctx, u, v, dev.CredID, addr, tandem.Refusef(tandem.ECONFLICT, "handover_taken", "Another phone already answered this prompt."))
		}
		return nil, err
	}
	e.published(ctx, v, now)
	return e.session(ctx, v, dev.CredID, "", &next)
}

// HandoverView is what the web page shows while a hand-over runs.
type HandoverView struct {
	// Paired is true once a phone has joined.
	Paired bool
	// Step is the display name of the phone's current step.
	Step string
	// Nodes is what the current phone step shows on the web page.
	Nodes []module.Node
	// Note tells what happened when a phone was refused.
	Note string
	// NeedsLocation is true when the phone's steps compare locations: the
	// browser's location must be recorded before the code is shown.
	NeedsLocation bool
	HasLocation   bool
}

func (e *Engine) handoverView(v *tandem.Verification, i int) *HandoverView {
	h := &HandoverView{Paired: v.Device.CredID != "", Note: v.Steps[i].Reason, NeedsLocation: needsLocation(v, i), HasLocation: v.Web.Location != nil}
	if d := v.CurrentDevice(); d >= 0 && h.Paired {
		h.Step = v.Steps[d].DisplayName
		_, h.Nodes = splitState(v.Steps[d].State)
	}
	return h
}

func newCredID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// userHistory counts a user's events for the modules.
type userHistory struct {
	store     tandem.DeviceStore
	workspace string
	userID    string
}

func (h userHistory) Count(ctx context.Context, kind string, since time.Time) (int, time.Time, error) {
	return h.store.CountUserEvents(ctx, h.workspace, h.userID, kind, since)
}

func (e *Engine) userEvent(v *tandem.Verification, kind string, now time.Time) tandem.UserEvent {
	return tandem.UserEvent{Workspace: v.Workspace, UserID: v.UserID, Kind: kind, VerificationID: v.ID, At: now}
}

// Push fatigue limits.
const (
	defaultMuteAfterDeny = 15 * time.Minute
	pushBackoffBase      = 30 * time.Second
	pushBackoffMax       = 10 * time.Minute
	pushBackoffWindow    = 10 * time.Minute
)

// pushSuppressed decides whether prompts may be pushed to the user's phones
// for the hand-over at step i. It returns the note the web page shows when
// they may not: after a recent "this wasn't me" (muted), while another
// prompt waits unanswered (one at a time), or too soon after unanswered
// prompts (back-off doubling from 30 s). QR pairing still works then.
func (e *Engine) pushSuppressed(ctx context.Context, v *tandem.Verification, i int, now time.Time) (string, error) {
	mute := defaultMuteAfterDeny
	for j, st := range v.Steps {
		if st.Side == SideDevice && st.Group == i && st.Type == numberprompt.Type {
			if c, ferrs := e.decodeConfig(st.Type, v.Modules[j].Configs); len(ferrs) == 0 {
				if npc, ok := c.(*numberprompt.Config); ok {
					mute = npc.MuteAfterDeny()
				}
			}
		}
	}
	if mute > 0 {
		n, _, err := e.Store.CountUserEvents(ctx, v.Workspace, v.UserID, tandem.UserDenied, now.Add(-mute))
		if err != nil {
			return "", err
		}
		if n > 0 {
			return "Prompts to your phones are paused after a recent \"this wasn't me\". Scan the code with your phone instead.", nil
		}
	}
	items, err := e.Store.UserInbox(ctx, v.Workspace, v.UserID, now)
	if err != nil {
		return "", err
	}
	for _, it := range items {
		if it.VerificationID != v.ID {
			return "A prompt is already waiting on your phone. Answer or refuse it first, or scan the code with your phone.", nil
		}
	}
	pushed, last, err := e.Store.CountUserEvents(ctx, v.Workspace, v.UserID, tandem.UserPushed, now.Add(-pushBackoffWindow))
	if err != nil {
		return "", err
	}
	answered, _, err := e.Store.CountUserEvents(ctx, v.Workspace, v.UserID, tandem.UserAnswered, now.Add(-pushBackoffWindow))
	if err != nil {
		return "", err
	}
	if unanswered := pushed - answered; unanswered > 0 {
		wait := pushBackoffBase << min(unanswered-1, 5)
		if wait > pushBackoffMax {
			wait = pushBackoffMax
		}
		if next := last.Add(wait); now.Before(next) {
			return fmt.Sprintf("Prompts were sent to your phone recently and not answered. Wait %d seconds, or scan the code with your phone.", int(next.Sub(now).Seconds())+1), nil
		}
	}
	return "", nil
}

// timeoutIfDue ends the current device step when its module says its time
// is up (a number prompt nobody answered) and returns the stored state.
func (e *Engine) timeoutIfDue(ctx context.Context, v *tandem.Verification, now time.Time) (*tandem.Verification, error) {
	if w := v.Current(); v.Status == tandem.StatusInProgress && w >= 0 && v.Steps[w].Type == webtodevice.Type && v.Steps[w].Status == tandem.StepRunning {
		if cfg, err := handoverConfig(e, v.Modules[w]); err == nil && !now.Before(v.Steps[w].StartedAt.Add(cfg.Timeout())) {
			reason := "No phone continued this verification in time."
			if v.Device.CredID != "" {
				reason = "The phone did not finish its steps in time."
			}
			c := tandem.Commit{Verification: v}
			c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.timeout", "", now, map[string]any{"step": w, "type": webtodevice.Type}))
			e.failHandover(v, w, now, reason, &c)
			err := e.commit(ctx, c)
			if tandem.ErrorCode(err) == tandem.ECONFLICT {
				return e.Store.GetVerification(ctx, v.ID)
			}
			if err != nil {
				return nil, err
			}
			e.published(ctx, v, now)
			return v, nil
		}
	}
	i := v.CurrentDevice()
	if v.Status != tandem.StatusInProgress || i < 0 || v.Steps[i].Status != tandem.StepRunning {
		return v, nil
	}
	m := v.Modules[i]
	info, ok := e.Modules.Lookup(m.Type)
	to, isTO := info.Device.(module.DeviceTimeout)
	if !ok || !isTO {
		return v, nil
	}
	cfg, ferrs := e.decodeConfig(m.Type, m.Configs)
	if len(ferrs) > 0 {
		return v, nil
	}
	modState, _ := splitState(v.Steps[i].State)
	out, done := to.TimedOut(cfg, modState, now)
	if !done {
		return v, nil
	}
	c := tandem.Commit{Verification: v}
	c.Audit = append(c.Audit, e.audit(v.Workspace, v.ID, tandem.ActorSystem, "step.timeout", "", now, map[string]any{"step": i, "type": m.Type}))
	if err := e.finishDeviceStep(ctx, v, i, out, now, "", &c, nil); err != nil {
		return nil, err
	}
	err := e.commit(ctx, c)
	if tandem.ErrorCode(err) == tandem.ECONFLICT {
		return e.Store.GetVerification(ctx, v.ID)
	}
	if err != nil {
		return nil, err
	}
	e.published(ctx, v, now)
	return v, nil
}

// needsLocation reports whether a device step of the hand-over at i
// compares locations.
func needsLocation(v *tandem.Verification, i int) bool {
	for _, st := range v.Steps {
		if st.Side == SideDevice && st.Group == i && st.Type == "proximity" && st.Status == tandem.StepPending {
			return true
		}
	}
	return false
}

// SetWebLocation records the browser's location reading for the
// hand-over that waits for it. Readings out of range are EINVALID.
func (e *Engine) SetWebLocation(ctx context.Context, token, browserKey string, loc tandem.WebLocation, addr string) (*tandem.Verification, error) {
	var errs []tandem.FieldError
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	if bad(loc.Lat) || loc.Lat < -90 || loc.Lat > 90 {
		errs = append(errs, tandem.FieldError{Path: "lat", Message: "latitude must be a number from -90 to 90"})
	}
	if bad(loc.Lon) || loc.Lon < -180 || loc.Lon > 180 {
		errs = append(errs, tandem.FieldError{Path: "lon", Message: "longitude must be a number from -180 to 180"})
	}
	if bad(loc.AccuracyM) || loc.AccuracyM < 0 || loc.AccuracyM > 1e6 {
		errs = append(errs, tandem.FieldError{Path: "accuracy_m", Message: "accuracy must be a number of metres from 0 to 1000000"})
	}
	if err := tandem.Invalid("The location reading is not valid.", errs); err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		v, err := e.Lookup(ctx, token, browserKey, addr)
		if err != nil {
			return nil, err
		}
		i := v.Current()
		if v.Status != tandem.StatusInProgress || i < 0 || v.Steps[i].Type != webtodevice.Type || v.Device.CredID != "" || !needsLocation(v, i) {
			return nil, tandem.Errorf(tandem.ECONFLICT, "No step is waiting for this computer's location.")
		}
		now := e.Now()
		loc.RecordedAt = now
		if loc.ReadAt.IsZero() || loc.ReadAt.After(now) {
			loc.ReadAt = now
		}
		v.Web.Location = &loc
		v.UpdatedAt = now
		c := tandem.Commit{Verification: v, Audit: []tandem.AuditEvent{e.audit(v.Workspace, v.ID, tandem.ActorWeb, "web.location", addr, now, map[string]any{"accuracy_m": loc.AccuracyM})}}
		err = e.commit(ctx, c)
		if tandem.ErrorCode(err) == tandem.ECONFLICT && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, err
		}
		e.Events.Publish(v.ID)
		if err := e.notifyDevices(ctx, v, i, now); err != nil {
			e.log().Error("push-mode hand-over: notifying devices failed", "verification", v.ID, "err", err)
		}
		return v, nil
	}
}
