package push_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/push"
)

type recorder struct {
	name string
	got  *[]string
	err  error
}

func (r recorder) Push(_ context.Context, d *tandem.Device, _ engine.PushMessage) error {
	*r.got = append(*r.got, r.name+":"+d.CredID)
	return r.err
}

func TestByTypeRoutesByPushType(t *testing.T) {
	var got []string
	boom := errors.New("boom")
	b := push.ByType{
		Providers: map[string]engine.Pusher{"webpush": recorder{"webpush", &got, boom}},
		Default:   recorder{"log", &got, nil},
	}
	ctx := t.Context()
	if err := b.Push(ctx, &tandem.Device{CredID: "a", PushType: "webpush"}, engine.PushMessage{}); !errors.Is(err, boom) {
		t.Errorf("webpush device: err %v, want the provider's", err)
	}
	b.Push(ctx, &tandem.Device{CredID: "b", PushType: "fcm"}, engine.PushMessage{})
	b.Push(ctx, &tandem.Device{CredID: "c"}, engine.PushMessage{})
	want := []string{"webpush:a", "log:b", "log:c"}
	if len(got) != len(want) {
		t.Fatalf("pushes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("push %d went to %s, want %s", i, got[i], want[i])
		}
	}
	if err := (push.ByType{}).Push(ctx, &tandem.Device{CredID: "d"}, engine.PushMessage{}); err != nil {
		t.Errorf("no provider at all: %v, want nil", err)
	}
}
