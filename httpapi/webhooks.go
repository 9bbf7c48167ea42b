package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/webhook"
)

// WebhookStore is what the webhook endpoints need: the outbox and the
// webhook secrets.
type WebhookStore interface {
	tandem.OutboxStore
	tandem.WebhookSecretStore
}

// WebhookSecretOut is a newly issued webhook secret. The secret is shown
// only here.
type WebhookSecretOut struct {
	Secret                  string     `json:"secret" doc:"whsec_ followed by the base64 of 32 random bytes: the key of the webhooks' HMAC-SHA256 signatures (Standard Webhooks)."`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"Until then, webhooks are also signed with the secrets this one replaces (several signatures in webhook-signature); absent on the first issue."`
}

// DeadWebhookOut is a webhook delivery that was given up.
type DeadWebhookOut struct {
	ID             string    `json:"id" doc:"The webhook-id of the delivery."`
	Kind           string    `json:"kind" enum:"webhook,ciba_ping,ciba_push" doc:"webhook: a verification.finished webhook; ciba_ping, ciba_push: an OpenID CIBA notification to a client's notification endpoint."`
	URL            string    `json:"url"`
	Application    string    `json:"application"`
	VerificationID string    `json:"request_id"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error" doc:"Why the last attempt failed, or why the delivery was refused."`
	CreatedAt      time.Time `json:"created_at"`
}

// RedeliveryOut is a delivery queued again.
type RedeliveryOut struct {
	ID            string    `json:"id"`
	URL           string    `json:"url" doc:"Where it goes: the application's webhook_url now (a CIBA notification: its notification endpoint)."`
	Status        string    `json:"status" enum:"pending"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
}

type webhookSecretBody struct {
	CacheControl string `header:"Cache-Control"`
	Body         WebhookSecretOut
}

func (s *Server) registerWebhooks() {
	tags := []string{"admin"}
	sec := []map[string][]string{{"admin": {}}}

	huma.Register(s.api, huma.Operation{
		OperationID: "issue-webhook-secret", Method: http.MethodPost, Path: "/admin/v1/workspaces/{workspace}/applications/{name}/webhook-secret",
		Summary:     "Issue or rotate an application's webhook secret",
		Description: "Webhooks are signed as Standard Webhooks specifies (webhook-id, webhook-timestamp, webhook-signature). Each call issues a new secret; webhooks keep being signed with the previous ones too for the configured grace period. The secret is shown only in this response.",
		Tags:        tags, Security: sec, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *itemPath) (*webhookSecretBody, error) {
		ref, err := s.Workspaces.GetApplication(ctx, in.Workspace, in.Name)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		now := s.Now()
		earlier, err := s.Webhooks.WebhookSecrets(ctx, in.Workspace, in.Name, now)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		secret := webhook.NewSecret()
		grace := now.Add(s.SecretGrace)
		if err := s.Webhooks.PutWebhookSecret(ctx, ref.ID, s.WebhookBox.Seal(in.Workspace, in.Name, secret), now, grace); err != nil {
			return nil, s.problem(ctx, err)
		}
		s.adminAudit(ctx, in.Workspace, "", "webhook.secret_issued", now, map[string]any{"application": in.Name})
		out := WebhookSecretOut{Secret: secret}
		if len(earlier) > 0 {
			out.PreviousSecretExpiresAt = &grace
		}
		return &webhookSecretBody{CacheControl: "no-store", Body: out}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "list-dead-webhooks", Method: http.MethodGet, Path: "/admin/v1/workspaces/{workspace}/webhooks/dead",
		Summary:     "List the webhook deliveries that were given up",
		Description: "A delivery is given up when it failed the most attempts allowed, or at once when it was refused (a URL that is not https, a host that is not a public address). Newest first, at most 1000.",
		Tags:        tags, Security: sec,
	}, func(ctx context.Context, in *wsPath) (*body[[]DeadWebhookOut], error) {
		if _, err := s.Workspaces.GetWorkspace(ctx, in.Workspace); err != nil {
			return nil, s.problem(ctx, err)
		}
		dead, err := s.Webhooks.ListDead(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := make([]DeadWebhookOut, 0, len(dead))
		for _, it := range dead {
			out = append(out, DeadWebhookOut{ID: it.ID, Kind: it.Kind, URL: it.URL, Application: it.Application, VerificationID: it.VerificationID,
				Attempts: it.Attempts, LastError: it.LastError, CreatedAt: it.CreatedAt})
		}
		return &body[[]DeadWebhookOut]{Body: out}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "redeliver-webhook", Method: http.MethodPost, Path: "/admin/v1/workspaces/{workspace}/webhooks/{id}/redeliver",
		Summary:     "Deliver a given-up webhook again",
		Description: "Queues a dead delivery again, with the same webhook-id and body, to the application's current webhook_url, with a fresh count of attempts. An OpenID CIBA notification goes again to the notification endpoint it was for. Only dead deliveries can be redelivered (409 otherwise).",
		Tags:        tags, Security: sec,
	}, func(ctx context.Context, in *struct {
		Workspace string `path:"workspace" maxLength:"63"`
		ID        string `path:"id" maxLength:"64" doc:"The webhook-id, as listed by the dead deliveries."`
	}) (*body[RedeliveryOut], error) {
		ws, err := s.Workspaces.GetWorkspace(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		dead, err := s.Webhooks.ListDead(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		url := ""
		for _, it := range dead {
			if it.ID != in.ID || it.Kind != tandem.OutboxWebhook {
				continue // a CIBA notification keeps its URL
			}
			app, ok := ws.Doc.Application(it.Application)
			if !ok || app.WebhookURL == "" {
				return nil, s.problem(ctx, tandem.Errorf(tandem.ECONFLICT, "Application %q of workspace %q has no webhook_url now; set one before redelivering.", it.Application, in.Workspace))
			}
			url = app.WebhookURL
		}
		now := s.Now()
		it, err := s.Webhooks.Redeliver(ctx, in.Workspace, in.ID, url, now)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		s.adminAudit(ctx, in.Workspace, it.VerificationID, "webhook.redelivered", now, map[string]any{"webhook_id": it.ID, "application": it.Application})
		return &body[RedeliveryOut]{Body: RedeliveryOut{ID: it.ID, URL: it.URL, Status: it.Status, NextAttemptAt: it.NextAttemptAt}}, nil
	})
}

// adminAudit records an admin action, when the server has an audit log.
// A failure is logged: the action is done.
func (s *Server) adminAudit(ctx context.Context, workspace, verificationID, action string, now time.Time, detail map[string]any) {
	if s.Verifications == nil {
		return
	}
	b, _ := json.Marshal(detail)
	ev := tandem.AuditEvent{Workspace: workspace, VerificationID: verificationID, Actor: tandem.ActorAdmin, Action: action, Detail: b, Addr: clientAddr(ctx), At: now}
	if err := s.Verifications.AddAudit(ctx, ev); err != nil {
		s.Logger.ErrorContext(ctx, "audit failed", "action", action, "err", err)
	}
}
