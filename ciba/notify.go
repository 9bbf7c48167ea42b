package ciba

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-id/tandem"
)

// PushError is the body of a push of a failed request.
type PushError struct {
	AuthReqID        string `json:"auth_req_id"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// PingBody is the body of a ping notification.
type PingBody struct {
	AuthReqID string `json:"auth_req_id"`
}

// OnEnd is the engine's hook (engine.Engine.OnEnd) for the commit that ends
// a verification. When the verification was started by a CIBA request in
// ping or push mode, it adds to the commit the notification to the client's
// endpoint, sent by the webhook dispatcher with the client's
// client_notification_token as bearer token:
//
//   - ping: {"auth_req_id"}; the client then calls the token endpoint,
//     which answers with the tokens or the error;
//   - push: the token response with the auth_req_id when the verification
//     completed, else {"auth_req_id", "error", "error_description"}
//     (access_denied when it failed or was cancelled, expired_token when it
//     expired); the request is consumed in the same commit, and the access
//     token is valid TokenTTL from the end.
//
// The notification is stored in the transaction that ends the
// verification, so it is sent exactly when the end is stored. A request
// whose auth_req_id cannot be opened (the operator's secret key changed) is
// logged and audited, and sends nothing: the end of the verification is not
// held up by it.
func (s *Server) OnEnd(ctx context.Context, v *tandem.Verification, c *tandem.Commit) error {
	req, err := s.Store.CIBARequestByVerification(ctx, v.ID)
	if tandem.ErrorCode(err) == tandem.ENOTFOUND {
		return nil
	} else if err != nil {
		return err
	}
	if req.DeliveryMode == tandem.CIBAPoll || !req.ConsumedAt.IsZero() {
		return nil
	}
	at := v.FinishedAt
	if at.IsZero() {
		at = s.now()
	}
	authReqID, err := s.Box.OpenToken(purposeAuthReqID, req.Workspace, req.Application, req.AuthReqID)
	if err != nil {
		s.log().ErrorContext(ctx, "CIBA notification not sent", "request_id", v.ID, "err", err)
		c.Audit = append(c.Audit, s.endAudit(v, "ciba.notification_failed", at, map[string]any{"error": err.Error()}))
		return nil
	}
	item := tandem.OutboxItem{
		ID: tandem.NewMessageID(), Workspace: req.Workspace, Application: req.Application, VerificationID: v.ID,
		URL: req.NotificationEndpoint, Bearer: req.NotificationToken, CreatedAt: at, NextAttemptAt: at,
	}
	var body any
	action := "ciba.ping_enqueued"
	if req.DeliveryMode == tandem.CIBAPing {
		item.Kind, body = tandem.OutboxCIBAPing, PingBody{AuthReqID: authReqID}
	} else {
		item.Kind, action = tandem.OutboxCIBAPush, "ciba.push_enqueued"
		grant := tandem.CIBAGrant{IDHash: req.IDHash, At: at}
		switch v.Status {
		case tandem.StatusCompleted:
			out, g, err := s.issue(ctx, v, req, authReqID, at)
			if err != nil {
				s.log().ErrorContext(ctx, "CIBA push: ID token not signed", "request_id", v.ID, "err", err)
				body = PushError{AuthReqID: authReqID, Error: "transaction_failed", ErrorDescription: "The server could not sign the ID token."}
				break
			}
			out.AuthReqID = authReqID
			body, grant = out, g
		case tandem.StatusExpired:
			body = PushError{AuthReqID: authReqID, Error: "expired_token", ErrorDescription: "auth_req_id has expired: the verification was not finished in time."}
		default:
			body = PushError{AuthReqID: authReqID, Error: "access_denied", ErrorDescription: fmt.Sprintf("The verification %s.", endedWords(v))}
		}
		c.CIBAGrants = append(c.CIBAGrants, grant)
	}
	if item.Payload, err = json.Marshal(body); err != nil {
		return fmt.Errorf("CIBA notification of verification %s: %w", v.ID, err)
	}
	c.Outbox = append(c.Outbox, item)
	c.Audit = append(c.Audit, s.endAudit(v, action, at, map[string]any{"client_id": req.ClientID, "notification_id": item.ID}))
	return nil
}

func (s *Server) endAudit(v *tandem.Verification, action string, at time.Time, detail map[string]any) tandem.AuditEvent {
	b, _ := json.Marshal(detail)
	return tandem.AuditEvent{Workspace: v.Workspace, VerificationID: v.ID, Actor: tandem.ActorSystem, Action: action, Detail: b, At: at}
}
