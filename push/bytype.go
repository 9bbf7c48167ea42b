package push

import (
	"context"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
)

// ByType sends each push through the provider of the device's push type
// ("webpush", "fcm"), and through Default when there is none (nil Default:
// the push is not sent).
type ByType struct {
	Providers map[string]engine.Pusher
	Default   engine.Pusher
}

var _ engine.Pusher = ByType{}

// Push sends m to d with the provider of d.PushType, or Default.
func (b ByType) Push(ctx context.Context, d *tandem.Device, m engine.PushMessage) error {
	if p, ok := b.Providers[d.PushType]; ok && p != nil {
		return p.Push(ctx, d, m)
	}
	if b.Default != nil {
		return b.Default.Push(ctx, d, m)
	}
	return nil
}
