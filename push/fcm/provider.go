// Package fcm sends pushes to native apps through Firebase Cloud Messaging
// (the HTTP v1 API), authenticated as a Google service account. A push
// carries only ids (the verification id and the message type) and the
// application's fixed title and body; the app then reads the prompt from
// its inbox with a signed request.
package fcm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
)

// Defaults and fixed values of a Provider.
const (
	// Scope is the OAuth 2.0 scope of the access tokens.
	Scope = "https://www.googleapis.com/auth/firebase.messaging"
	// DefaultEndpoint is the FCM API's base URL.
	DefaultEndpoint = "https://fcm.googleapis.com"
	// DefaultTTL is how long FCM keeps a message for an offline phone: the
	// default timeout_s of a web_to_device hand-over (300 s). A push that
	// arrives later would announce a prompt that is most likely over; the
	// prompt itself waits in the inbox until the verification ends.
	DefaultTTL = 300 * time.Second
	// MessageType is the "type" member of every message's data.
	MessageType = "tandem.prompt"

	defaultTimeout = 10 * time.Second
	// tokenMargin is how long before its expiry an access token is
	// replaced: a request sent with it just in time could arrive too late.
	tokenMargin = time.Minute
	// maxErrorBody is how much of an error answer is read.
	maxErrorBody = 64 << 10
)

// Sentinel errors in the chains of Push's errors (test with errors.Is).
var (
	// ErrGone: FCM says the registration token will never work again
	// (UNREGISTERED, or INVALID_ARGUMENT about the token). It wraps
	// engine.ErrPushGone, so the engine clears the device's registration.
	ErrGone = fmt.Errorf("fcm: %w", engine.ErrPushGone)
	// ErrCredentials: the token endpoint or FCM refused the service
	// account (401, 403, invalid_grant …). No push goes out until the
	// operator fixes the account, its key or its roles.
	ErrCredentials = errors.New("fcm: the service account's credentials were refused")
	// ErrRetryable: FCM or the token endpoint is overloaded or failing (429,
	// 5xx); the same push may succeed later (see Error.RetryAfter).
	ErrRetryable = errors.New("fcm: temporarily unavailable, try again later")
)

// Error is FCM's answer to a message it did not accept (the FCM HTTP v1
// error model). It wraps ErrGone, ErrCredentials or ErrRetryable when one
// applies.
type Error struct {
	StatusCode int
	// Status is the google.rpc status ("NOT_FOUND", "INVALID_ARGUMENT" …)
	// and ErrorCode the FcmError code ("UNREGISTERED", "QUOTA_EXCEEDED" …);
	// either may be empty when the answer did not follow the model.
	Status    string
	ErrorCode string
	// Message is FCM's message (or the start of a body that is not the
	// error model's JSON).
	Message string
	// RetryAfter is the delay of the answer's Retry-After header (0 when it
	// has none).
	RetryAfter time.Duration

	kind error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fcm: send answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if code := firstNonEmpty(e.ErrorCode, e.Status); code != "" {
		fmt.Fprintf(&b, " (%s)", code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	switch e.kind {
	case ErrGone:
		b.WriteString("; the registration token is no longer valid")
	case ErrCredentials:
		b.WriteString("; check the service account, its key and its Firebase Cloud Messaging role")
		if e.ErrorCode == "SENDER_ID_MISMATCH" {
			b.WriteString(" (the device's token belongs to another Firebase project)")
		}
	case ErrRetryable:
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, "; retry after %s", e.RetryAfter)
		} else {
			b.WriteString("; retry later")
		}
	}
	return b.String()
}

// Unwrap returns ErrGone, ErrCredentials, ErrRetryable or nil.
func (e *Error) Unwrap() error { return e.kind }

// Provider sends pushes to devices whose push type is "fcm": their token is
// the app's FCM registration token. It is an engine.Pusher, safe for
// concurrent use. Credentials is required; the other fields are optional.
type Provider struct {
	Credentials *Credentials
	// Endpoint is FCM's base URL (checked by CheckURL); "" is
	// DefaultEndpoint.
	Endpoint string
	// HTTP sends both the token requests and the messages; nil is a client
	// with a 10 s timeout that follows no redirect.
	HTTP *http.Client
	// TTL is how long FCM keeps a message for an offline phone (android.ttl
	// and apns-expiration); 0 is DefaultTTL.
	TTL time.Duration
	// Now is the clock of the access token's expiry and of
	// apns-expiration; nil is time.Now.
	Now func() time.Time
	// Logger gets an error when the credentials are refused; nil logs
	// nothing (the error is returned either way).
	Logger *slog.Logger

	mu          sync.Mutex
	accessToken string
	expiry      time.Time
}

var _ engine.Pusher = (*Provider)(nil)

var defaultClient = &http.Client{
	Timeout:       defaultTimeout,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Message is the "message" member of an FCM v1 send request, as far as
// Provider uses it.
type Message struct {
	Token        string            `json:"token"`
	Data         map[string]string `json:"data"`
	Notification *Notification     `json:"notification,omitempty"`
	Android      AndroidConfig     `json:"android"`
	APNS         APNSConfig        `json:"apns"`
}

// Notification is the title and body the phone's system shows.
type Notification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
}

// AndroidConfig holds the Android-specific options of a message.
type AndroidConfig struct {
	Priority string `json:"priority"`
	TTL      string `json:"ttl"`
}

// APNSConfig holds the APNs headers and payload of a message.
type APNSConfig struct {
	Headers map[string]string `json:"headers"`
	Payload map[string]any    `json:"payload"`
}

// NewMessage returns the message of a push of m to an FCM registration
// token, expiring ttl after now. Data holds only the verification id and
// MessageType. With a title or body (the application's fixed push_title
// and push_body) the message is a visible notification on both platforms
// (Android priority HIGH; APNs alert, priority 10); without, it is a data
// message (Android HIGH, APNs background with content-available, priority
// 5, which is what Apple requires of background pushes).
func NewMessage(token string, m engine.PushMessage, ttl time.Duration, now time.Time) Message {
	secs := int64(ttl / time.Second)
	msg := Message{
		Token:   token,
		Data:    map[string]string{"verification_id": m.VerificationID, "type": MessageType},
		Android: AndroidConfig{Priority: "HIGH", TTL: strconv.FormatInt(secs, 10) + "s"},
		APNS: APNSConfig{Headers: map[string]string{
			"apns-expiration": strconv.FormatInt(now.Unix()+secs, 10),
		}},
	}
	if m.Title != "" || m.Body != "" {
		msg.Notification = &Notification{Title: m.Title, Body: m.Body}
		msg.APNS.Headers["apns-priority"] = "10"
		msg.APNS.Headers["apns-push-type"] = "alert"
		alert := map[string]any{}
		if m.Title != "" {
			alert["title"] = m.Title
		}
		if m.Body != "" {
			alert["body"] = m.Body
		}
		msg.APNS.Payload = map[string]any{"aps": map[string]any{"alert": alert}}
	} else {
		msg.APNS.Headers["apns-priority"] = "5"
		msg.APNS.Headers["apns-push-type"] = "background"
		msg.APNS.Payload = map[string]any{"aps": map[string]any{"content-available": 1}}
	}
	return msg
}

// Push sends m to the device's FCM registration token. It returns nil when
// FCM accepted the message (200). Otherwise the error is an *Error (FCM
// answered), or wraps ErrCredentials or ErrRetryable when the access token
// could not be had, or says why the request did not go out. Errors never
// contain the access token or the registration token.
func (p *Provider) Push(ctx context.Context, d *tandem.Device, m engine.PushMessage) error {
	if d.PushType != deviceproto.PushFCM {
		return fmt.Errorf("fcm: device %s has push type %q, not %q", d.CredID, d.PushType, deviceproto.PushFCM)
	}
	if d.PushToken == "" {
		return fmt.Errorf("fcm: device %s has no registration token", d.CredID)
	}
	if p.Credentials == nil {
		return errors.New("fcm: the provider has no credentials")
	}
	endpoint := strings.TrimSuffix(firstNonEmpty(p.Endpoint, DefaultEndpoint), "/")
	if err := CheckURL(endpoint); err != nil {
		return fmt.Errorf("fcm: endpoint: %w", err)
	}
	ttl := p.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	body, err := json.Marshal(struct {
		Message Message `json:"message"`
	}{NewMessage(d.PushToken, m, ttl, p.now())})
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	token, err := p.token(ctx)
	if err != nil {
		return err
	}
	sendURL := endpoint + "/v1/projects/" + url.PathEscape(p.Credentials.ProjectID) + "/messages:send"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sendURL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("fcm: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := p.client().Do(req)
	if err != nil {
		return fmt.Errorf("fcm: send to %s: %w", endpoint, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := parseError(resp, data, p.now())
	if e.kind == ErrCredentials {
		if resp.StatusCode == http.StatusUnauthorized {
			p.forget(token) // revoked or expired early: get a new one next time
		}
		p.logCredentials(ctx, e)
	}
	return e
}

func (p *Provider) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Provider) client() *http.Client {
	if p.HTTP != nil {
		return p.HTTP
	}
	return defaultClient
}

func (p *Provider) logCredentials(ctx context.Context, err error) {
	if p.Logger != nil {
		p.Logger.ErrorContext(ctx, "FCM refused the service account; no FCM push is delivered until it is fixed",
			"client_email", p.Credentials.ClientEmail, "project_id", p.Credentials.ProjectID, "err", err)
	}
}

// token returns a cached access token, or exchanges a new assertion for one
// when there is none or it expires within tokenMargin. Concurrent pushes
// wait for one exchange.
func (p *Provider) token(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accessToken != "" && p.now().Add(tokenMargin).Before(p.expiry) {
		return p.accessToken, nil
	}
	c := p.Credentials
	conf := &jwt.Config{
		Email:        c.ClientEmail,
		PrivateKey:   c.pemKey,
		PrivateKeyID: c.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     c.TokenURI,
	}
	// A token source of its own per exchange: the expiry is kept here, on
	// p's clock, rather than on the wall clock of oauth2's cache.
	tok, err := conf.TokenSource(context.WithValue(ctx, oauth2.HTTPClient, p.client())).Token()
	if err != nil {
		err = tokenError(c.TokenURI, err, p.now())
		if errors.Is(err, ErrCredentials) {
			p.logCredentials(ctx, err)
		}
		return "", err
	}
	if tok.AccessToken == "" {
		return "", fmt.Errorf("fcm: the token endpoint %s answered no access_token", c.TokenURI)
	}
	lifetime := time.Hour // Google's, when the answer has no expires_in
	if !tok.Expiry.IsZero() {
		lifetime = time.Until(tok.Expiry)
	}
	p.accessToken, p.expiry = tok.AccessToken, p.now().Add(lifetime)
	return p.accessToken, nil
}

// forget drops the cached access token if it is still token.
func (p *Provider) forget(token string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.accessToken == token {
		p.accessToken, p.expiry = "", time.Time{}
	}
}

// tokenError classifies a failed token exchange: the endpoint's 4xx answers
// (invalid_grant: a deleted or disabled key, a wrong client_email …) are
// credential errors, 429 and 5xx retryable.
func tokenError(tokenURI string, err error, now time.Time) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return fmt.Errorf("fcm: token exchange at %s: %w", tokenURI, unwrapURLError(err))
	}
	code := re.Response.StatusCode
	var oe struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	detail := snippet(re.Body)
	if json.Unmarshal(re.Body, &oe) == nil && oe.Error != "" {
		detail = oneLine(strings.TrimSpace(oe.Error+" "+oe.Description), 300)
	}
	switch {
	case code == http.StatusTooManyRequests || code >= 500:
		msg := fmt.Sprintf("the token endpoint %s answered %d %s: %s", tokenURI, code, http.StatusText(code), detail)
		if d := retryAfter(re.Response.Header.Get("Retry-After"), now); d > 0 {
			msg += fmt.Sprintf("; retry after %s", d)
		}
		return fmt.Errorf("%w: %s", ErrRetryable, msg)
	case code >= 400:
		return fmt.Errorf("%w: the token endpoint %s answered %d %s: %s", ErrCredentials, tokenURI, code, http.StatusText(code), detail)
	}
	return fmt.Errorf("fcm: token exchange at %s answered %d: %s", tokenURI, code, detail)
}

// fcmErrorBody is the FCM v1 error model.
type fcmErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

const (
	typeFcmError   = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
	typeBadRequest = "type.googleapis.com/google.rpc.BadRequest"
)

// parseError reads FCM's error answer. Only an UNREGISTERED token, or an
// INVALID_ARGUMENT that names the token (a BadRequest violation of
// message.token, or a message about the registration token), is gone: a
// bare 404 (a wrong endpoint or project) must not clear every device's
// registration. 401 and 403 are credential errors (SENDER_ID_MISMATCH
// too: when every token mismatches, the project is wrong, not the tokens);
// 429 and 5xx are retryable.
func parseError(resp *http.Response, data []byte, now time.Time) *Error {
	e := &Error{StatusCode: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), now)}
	var b fcmErrorBody
	tokenNamed := false
	if json.Unmarshal(data, &b) == nil && (b.Error.Status != "" || b.Error.Message != "") {
		e.Status, e.Message = b.Error.Status, oneLine(b.Error.Message, 300)
		for _, d := range b.Error.Details {
			switch d.Type {
			case typeFcmError:
				e.ErrorCode = d.ErrorCode
			case typeBadRequest:
				for _, v := range d.FieldViolations {
					if v.Field == "message.token" {
						tokenNamed = true
					}
				}
			}
		}
		if strings.Contains(strings.ToLower(b.Error.Message), "registration token") {
			tokenNamed = true
		}
	} else {
		e.Message = snippet(data)
	}
	switch {
	case e.ErrorCode == "UNREGISTERED":
		e.kind = ErrGone
	case resp.StatusCode == http.StatusBadRequest && firstNonEmpty(e.ErrorCode, e.Status) == "INVALID_ARGUMENT" && tokenNamed:
		e.kind = ErrGone
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e.kind = ErrCredentials
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		e.kind = ErrRetryable
	}
	return e
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date.
// It returns 0 when there is none or it is not in the future.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 || n > 86400 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

func snippet(b []byte) string { return oneLine(string(b), 200) }

// oneLine returns s on one line, valid UTF-8, cut at n bytes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ToValidUTF8(s, "?")), " ")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// unwrapURLError drops the *url.Error around err, which repeats the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
