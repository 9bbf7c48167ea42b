package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/tandem-id/tandem"
)

// EventFinished is the type of the webhook sent when a verification ends.
const EventFinished = "verification.finished"

// WebhookPayload is the body of a webhook: the event type, when it
// happened (RFC 3339) and its data, here the verification's flat result
// (Result).
type WebhookPayload struct {
	Type      string            `json:"type"`
	Timestamp string            `json:"timestamp"`
	Data      map[string]string `json:"data"`
}

// ended marks in c that the change it stores ends its verification: it adds
// a webhook item with no URL yet, which commit completes or drops. An item
// of an unfinished commit that reached the store would be refused there (no
// URL, no payload), so a commit that skips commit fails loudly instead of
// losing the webhook.
func ended(c *tandem.Commit) {
	c.Outbox = append(c.Outbox, tandem.OutboxItem{Kind: tandem.OutboxWebhook})
}

// commit stores c. Every engine write of a verification goes through here.
// The webhook item that ended (called by transition) put in c becomes the
// delivery of c.Verification's result to its application's webhook_url,
// or is dropped when the application has none (or no longer exists); and
// OnEnd, when set, adds what else the end must store (the OpenID CIBA
// notifications). As a terminal status never changes and c is guarded by
// the verification's version, exactly one commit per verification ends it,
// and exactly one webhook is enqueued, in the same transaction.
func (e *Engine) commit(ctx context.Context, c tandem.Commit) error {
	out := c.Outbox[:0:0]
	ends := false
	for _, it := range c.Outbox {
		if it.Kind != tandem.OutboxWebhook || it.URL != "" {
			out = append(out, it)
			continue
		}
		ends = true
		wh, err := e.webhook(ctx, c.Verification)
		if err != nil {
			return err
		}
		if wh != nil {
			out = append(out, *wh)
		}
	}
	c.Outbox = out
	if ends && e.OnEnd != nil {
		// c is a copy: slices the hook appends to must not reach the
		// caller's commit, which a retry reuses.
		c.CIBAGrants = slices.Clip(c.CIBAGrants)
		c.Outbox = slices.Clip(c.Outbox)
		if err := e.OnEnd(ctx, c.Verification, &c); err != nil {
			return err
		}
	}
	return e.Store.Commit(ctx, c)
}

// webhook returns the webhook item that reports the end of v, or nil when
// v's application has no webhook_url.
func (e *Engine) webhook(ctx context.Context, v *tandem.Verification) (*tandem.OutboxItem, error) {
	if v == nil || !v.Status.Terminal() {
		return nil, fmt.Errorf("webhook of a commit whose verification has not ended")
	}
	ws, err := e.Store.GetWorkspace(ctx, v.Workspace)
	if err != nil {
		return nil, err
	}
	app, ok := ws.Doc.Application(v.Application)
	if !ok || app.WebhookURL == "" {
		return nil, nil
	}
	body, err := json.Marshal(WebhookPayload{Type: EventFinished, Timestamp: v.FinishedAt.UTC().Format(time.RFC3339), Data: Result(v)})
	if err != nil {
		return nil, fmt.Errorf("webhook of verification %s: %w", v.ID, err)
	}
	return &tandem.OutboxItem{
		ID: tandem.NewMessageID(), Kind: tandem.OutboxWebhook, Workspace: v.Workspace, Application: v.Application,
		VerificationID: v.ID, URL: app.WebhookURL, Payload: body, CreatedAt: v.FinishedAt, NextAttemptAt: v.FinishedAt,
	}, nil
}
