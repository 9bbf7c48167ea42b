package webpush

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
)

// Defaults of a Provider.
const (
	DefaultTTL     = 60 * time.Second
	DefaultUrgency = "high"
	defaultTimeout = 10 * time.Second
)

// ErrGone is wrapped by the error of a push the push service refused with
// 404 or 410: the subscription expired or was withdrawn, and will never
// work again. It wraps engine.ErrPushGone, so the engine clears the
// device's registration.
var ErrGone = fmt.Errorf("web push: %w", engine.ErrPushGone)

// StatusError is the error of a push the push service did not accept.
type StatusError struct {
	// Origin is the push service's origin (the endpoint's path is a
	// secret of the subscription and is left out).
	Origin     string
	StatusCode int
	// Body is the start of the push service's answer.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("web push: %s answered %d %s", e.Origin, e.StatusCode, http.StatusText(e.StatusCode))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Unwrap returns ErrGone for 404 and 410.
func (e *StatusError) Unwrap() error {
	if e.StatusCode == http.StatusNotFound || e.StatusCode == http.StatusGone {
		return ErrGone
	}
	return nil
}

// Provider sends pushes to devices whose push type is "webpush": their
// token is the subscription's JSON. The message is the JSON of the
// engine.PushMessage (ids, and the application's fixed title and body),
// encrypted for the subscription. It is an engine.Pusher.
type Provider struct {
	// HTTP sends the requests; nil is a client with a 10 s timeout that
	// follows no redirect. Endpoints come from devices: give a client that
	// refuses private addresses (webhook.Policy's) in production.
	HTTP  *http.Client
	VAPID VAPID
	// TTL is how long the push service keeps a message for an offline
	// device; 0 is DefaultTTL. The prompt itself waits in the inbox.
	TTL time.Duration
	// Urgency is the RFC 8030 Urgency header; "" is DefaultUrgency.
	Urgency string
	// Now is the clock of the VAPID tokens; nil is time.Now.
	Now func() time.Time
	// AllowHTTP allows http endpoints, for tests; otherwise only https
	// endpoints are pushed to.
	AllowHTTP bool
}

var _ engine.Pusher = (*Provider)(nil)

var defaultClient = &http.Client{
	Timeout:       defaultTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Push encrypts m for the device's subscription and POSTs it to the
// subscription's endpoint. 201 and 202 are success; 404 and 410 are a
// *StatusError wrapping ErrGone; any other answer is a *StatusError.
func (p *Provider) Push(ctx context.Context, d *tandem.Device, m engine.PushMessage) error {
	if d.PushType != deviceproto.PushWebPush {
		return fmt.Errorf("web push: device %s has push type %q, not %q", d.CredID, d.PushType, deviceproto.PushWebPush)
	}
	sub, err := ParseSubscription(d.PushToken)
	if err != nil {
		return fmt.Errorf("web push: the subscription of device %s: %w", d.CredID, err)
	}
	if !strings.HasPrefix(sub.Endpoint, "https://") && !p.AllowHTTP {
		return fmt.Errorf("web push: the endpoint of device %s is not an https URL", d.CredID)
	}
	aud, err := origin(sub.Endpoint)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return err
	}
	body, err := Encrypt(sub, payload, EncryptOptions{})
	if err != nil {
		return err
	}
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	authz, err := p.VAPID.Header(sub.Endpoint, now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("web push: %w", err)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	urgency := p.Urgency
	if urgency == "" {
		urgency = DefaultUrgency
	}
	req.Header.Set("Content-Encoding", "aes128gcm")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("TTL", strconv.Itoa(int(ttl/time.Second)))
	req.Header.Set("Urgency", urgency)
	req.Header.Set("Authorization", authz)
	client := p.HTTP
	if client == nil {
		client = defaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The error names the URL, whose path is the subscription's
		// secret: name the push service only.
		return fmt.Errorf("web push: POST to %s: %w", aud, unwrapURLError(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusCreated, http.StatusAccepted:
		return nil
	}
	return &StatusError{Origin: aud, StatusCode: resp.StatusCode, Body: strings.ToValidUTF8(strings.TrimSpace(string(snippet)), "?")}
}

// unwrapURLError drops the *url.Error around err, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
