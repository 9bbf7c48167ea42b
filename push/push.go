// Package push delivers the notifications that tell a phone a prompt is
// waiting in its inbox. Payloads carry only ids. Providers for Web Push and
// FCM plug in behind engine.Pusher; the Log provider writes each push to the
// log, for development and for deployments whose devices poll.
package push

import (
	"context"
	"log/slog"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
)

// Log is a provider that logs each push instead of sending it.
type Log struct {
	Logger *slog.Logger
}

var _ engine.Pusher = Log{}

// Push logs the push. It never fails.
func (l Log) Push(ctx context.Context, d *tandem.Device, m engine.PushMessage) error {
	l.Logger.InfoContext(ctx, "push (log provider)", "cred_id", d.CredID, "push_type", d.PushType, "verification", m.VerificationID, "title", m.Title)
	return nil
}
