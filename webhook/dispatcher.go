package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tandem-id/tandem"
)

// Store is what the dispatcher needs: the outbox, the secrets it signs
// with, and the audit log.
type Store interface {
	tandem.OutboxStore
	tandem.WebhookSecretStore
	AddAudit(ctx context.Context, events ...tandem.AuditEvent) error
}

// Defaults of a Dispatcher.
const (
	DefaultInterval    = time.Second
	DefaultTimeout     = 10 * time.Second
	DefaultLease       = 2 * time.Minute
	DefaultMaxAttempts = 8
	DefaultBaseDelay   = 5 * time.Second
	DefaultMaxDelay    = time.Hour
	DefaultBatch       = 16
)

// Dispatcher sends the outbox's webhook items. Every Interval it claims
// the items that are due (a lease, so that two dispatchers, even in two
// processes, do not send one item at the same time) and POSTs each, signed,
// to its URL:
//
//   - a 2xx answer marks the item delivered;
//   - a refusal of the Policy (not https, not a public address) marks it
//     dead at once, with the reason as its last error, and is audited;
//   - any other failure (another status, a network error, a timeout, no
//     webhook secret yet) is retried after an exponential back-off with
//     full jitter: a random delay up to BaseDelay·2^(attempt−1), capped at
//     MaxDelay; after MaxAttempts attempts the item is dead, and that is
//     audited.
//
// OpenID CIBA notifications (items of kind tandem.OutboxCIBAPing and
// tandem.OutboxCIBAPush) go the same way, under the same Policy, but carry
// "Authorization: Bearer" with the item's token (the client's
// client_notification_token, opened with Box) instead of a signature; their
// audit actions say ciba_notification where webhooks say webhook.
//
// Delivery is at least once: a dispatcher that stops after sending and
// before marking leaves the item leased, and it is sent again, with the same
// webhook-id, once the lease is over. Receivers deduplicate by webhook-id.
//
// Only Store is required; zero fields take the defaults above.
type Dispatcher struct {
	Store Store
	// Policy guards deliveries; nil is the zero Policy (https to public
	// addresses only).
	Policy *Policy
	// Box opens stored secrets; nil reads secrets stored in clear only.
	Box *Box
	// Client sends the requests; nil is Policy.Client(Timeout). A client
	// given here bypasses the Policy's address check (tests).
	Client *http.Client
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now         func() time.Time
	Interval    time.Duration
	Timeout     time.Duration
	Lease       time.Duration
	MaxAttempts int
	BaseDelay   time.Duration
	MaxDelay    time.Duration
	// Batch is the most items claimed, and sent concurrently, at once.
	Batch int
	// Jitter returns a random duration in [0, max]; nil uses math/rand/v2.
	Jitter func(max time.Duration) time.Duration

	clientOnce sync.Once
	client     *http.Client
}

func (d *Dispatcher) now() time.Time {
	if d.Now == nil {
		return time.Now()
	}
	return d.Now()
}

func (d *Dispatcher) log() *slog.Logger {
	if d.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Logger
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (d *Dispatcher) policy() *Policy {
	if d.Policy == nil {
		return &Policy{}
	}
	return d.Policy
}

func (d *Dispatcher) httpClient() *http.Client {
	d.clientOnce.Do(func() {
		d.client = d.Client
		if d.client == nil {
			d.client = d.policy().Client(orDefault(d.Timeout, DefaultTimeout))
		}
	})
	return d.client
}

// recordTimeout bounds the recording of an accepted delivery after the
// dispatcher was told to stop.
const recordTimeout = 5 * time.Second

// Run delivers due items every Interval until ctx is done. A full batch is
// followed at once by the next one.
func (d *Dispatcher) Run(ctx context.Context) {
	t := time.NewTicker(orDefault(d.Interval, DefaultInterval))
	defer t.Stop()
	for {
		for {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				d.log().Error("webhook dispatch failed", "err", err)
			}
			if err != nil || n < orDefault(d.Batch, DefaultBatch) {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// RunOnce claims the items due now and delivers them concurrently. It
// returns how many it claimed, and an error only when the claim failed
// (failures to record an outcome are logged; the lease makes the item due
// again).
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	items, err := d.Store.ClaimDue(ctx, d.now(), orDefault(d.Batch, DefaultBatch), orDefault(d.Lease, DefaultLease))
	if err != nil {
		return 0, err
	}
	var wg sync.WaitGroup
	for _, it := range items {
		wg.Go(func() { d.deliver(ctx, it) })
	}
	wg.Wait()
	return len(items), nil
}

// deliver makes one attempt at it and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, it tandem.OutboxItem) {
	now := d.now()
	u, err := d.policy().CheckURL(it.URL)
	if err != nil {
		d.dead(ctx, it, err, "refused.webhook")
		return
	}
	headers := http.Header{"Content-Type": {"application/json"}}
	if isCIBA(it) {
		tok, err := d.Box.OpenToken(BearerPurpose, it.Workspace, it.Application, it.Bearer)
		if err != nil {
			d.failed(ctx, it, now, err)
			return
		}
		headers.Set("User-Agent", "Tandem-CIBA/1")
		headers.Set("Authorization", "Bearer "+tok)
	} else {
		secrets, err := d.secrets(ctx, it, now)
		if err != nil {
			d.failed(ctx, it, now, err)
			return
		}
		sig, err := SignAll(secrets, it.ID, now, it.Payload)
		if err != nil {
			d.failed(ctx, it, now, err)
			return
		}
		headers.Set("User-Agent", "Tandem-Webhooks/1")
		headers.Set(HeaderID, it.ID)
		headers.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		headers.Set(HeaderSignature, sig)
	}
	rctx, cancel := context.WithTimeout(ctx, orDefault(d.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), bytes.NewReader(it.Payload))
	if err != nil {
		d.dead(ctx, it, &RefusedError{Reason: err.Error()}, "refused.webhook")
		return
	}
	req.Header = headers
	resp, err := d.httpClient().Do(req)
	if ctx.Err() != nil {
		// Stopping: the item stays leased and is sent again after the
		// lease, with the same webhook-id.
		if err == nil {
			resp.Body.Close()
		}
		return
	}
	switch {
	case IsRefused(err):
		d.dead(ctx, it, err, "refused.webhook")
	case err != nil:
		d.failed(ctx, it, now, err)
	default:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			d.delivered(ctx, it, now)
		} else {
			d.failed(ctx, it, now, fmt.Errorf("the receiver answered %s", resp.Status))
		}
	}
}

// BearerPurpose is the purpose (see Box.SealToken) of the bearer token of
// an OpenID CIBA notification item: its tandem.OutboxItem.Bearer must be
// sealed with it, for the item's workspace and application.
const BearerPurpose = "CIBA client_notification_token"

// isCIBA reports whether it is an OpenID CIBA notification.
func isCIBA(it tandem.OutboxItem) bool {
	return it.Kind == tandem.OutboxCIBAPing || it.Kind == tandem.OutboxCIBAPush
}

// secrets returns the application's valid webhook secrets in clear.
func (d *Dispatcher) secrets(ctx context.Context, it tandem.OutboxItem, now time.Time) ([]string, error) {
	stored, err := d.Store.WebhookSecrets(ctx, it.Workspace, it.Application, now)
	if err != nil {
		return nil, err
	}
	if len(stored) == 0 {
		return nil, fmt.Errorf("application %q has no webhook secret; issue one with POST /admin/v1/workspaces/%s/applications/%s/webhook-secret", it.Application, it.Workspace, it.Application)
	}
	out := make([]string, len(stored))
	for i, s := range stored {
		if out[i], err = d.Box.Open(it.Workspace, it.Application, s); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// backoff returns the delay before the attempt after attempt n (n ≥ 1):
// full jitter under min(MaxDelay, BaseDelay·2^(n−1)).
func (d *Dispatcher) backoff(n int) time.Duration {
	ceiling := orDefault(d.MaxDelay, DefaultMaxDelay)
	c := orDefault(d.BaseDelay, DefaultBaseDelay)
	for i := 1; i < n && c < ceiling; i++ {
		c *= 2
	}
	ceiling = min(c, ceiling)
	if d.Jitter != nil {
		return d.Jitter(ceiling)
	}
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// delivered records a delivery the receiver accepted. It is recorded even
// when ctx ends meanwhile (the dispatcher stopping): the receiver has the
// item, and forgetting that would only send it again after the lease.
func (d *Dispatcher) delivered(ctx context.Context, it tandem.OutboxItem, now time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := d.Store.MarkDelivered(ctx, it.ID, now); err != nil {
		d.log().Error("webhook delivered but not marked; it will be sent again", "webhook_id", it.ID, "err", err)
		return
	}
	d.log().Debug("webhook delivered", "webhook_id", it.ID, "attempts", it.Attempts)
	d.audit(ctx, it, "webhook.delivered", now, nil)
}

func (d *Dispatcher) failed(ctx context.Context, it tandem.OutboxItem, now time.Time, cause error) {
	if it.Attempts >= orDefault(d.MaxAttempts, DefaultMaxAttempts) {
		d.dead(ctx, it, fmt.Errorf("gave up after %d attempts: %w", it.Attempts, cause), "webhook.dead")
		return
	}
	next := now.Add(d.backoff(it.Attempts))
	if err := d.Store.MarkFailed(ctx, it.ID, cause.Error(), next); err != nil {
		d.log().Error("webhook failure not recorded", "webhook_id", it.ID, "err", err)
		return
	}
	d.log().Warn("webhook delivery failed; will retry", "webhook_id", it.ID, "attempts", it.Attempts, "next", next, "err", cause)
}

func (d *Dispatcher) dead(ctx context.Context, it tandem.OutboxItem, cause error, action string) {
	if err := d.Store.MarkDead(ctx, it.ID, cause.Error()); err != nil {
		d.log().Error("dead webhook not recorded", "webhook_id", it.ID, "err", err)
		return
	}
	d.log().Error("webhook delivery given up", "webhook_id", it.ID, "attempts", it.Attempts, "err", cause)
	d.audit(ctx, it, action, d.now(), cause)
}

// audit records an outcome in the verification's audit log.
func (d *Dispatcher) audit(ctx context.Context, it tandem.OutboxItem, action string, now time.Time, cause error) {
	detail := map[string]any{"webhook_id": it.ID, "application": it.Application, "attempts": it.Attempts}
	if isCIBA(it) {
		action = strings.Replace(action, "webhook", "ciba_notification", 1)
		detail["kind"] = it.Kind
	}
	if u, err := url.Parse(it.URL); err == nil {
		detail["host"] = u.Host
	}
	if cause != nil {
		detail["error"] = cause.Error()
	}
	b, _ := json.Marshal(detail)
	ev := tandem.AuditEvent{Workspace: it.Workspace, VerificationID: it.VerificationID, Actor: tandem.ActorSystem, Action: action, Detail: b, At: now}
	if err := d.Store.AddAudit(ctx, ev); err != nil {
		d.log().Error("webhook audit failed", "webhook_id", it.ID, "action", action, "err", err)
	}
}
