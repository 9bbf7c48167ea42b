package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/push/fcm/fcmtest"
)

const fcmWorkspace = `{"name": "shop",
 "applications": [
   {"name": "checkout", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone"},
   {"name": "push-checkout", "verification_way": "web", "workflow": "push-login"},
   {"name": "push-phone", "verification_way": "mobile", "workflow": "push-on-phone",
    "mobile": {"notification": "push", "push_title": "Shop", "push_body": "Confirm it is you"}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "device_register", "display_name": "Register"}]},
   {"name": "push-login", "modules": [
     {"type": "web_to_device", "display_name": "Check your phone", "configs": {"device_application": "push-phone"}}]},
   {"name": "push-on-phone", "modules": [
     {"type": "device_verify", "display_name": "Registered phone"}]}]}`

// fcmFlow drives a server through the device side of Tandem, as a native
// app with an FCM token would.
type fcmFlow struct {
	srv     *testServer
	creds   map[string][2]string // application → client id, secret
	browser *http.Client
}

func newFCMFlow(t *testing.T, srv *testServer) *fcmFlow {
	t.Helper()
	srv.do(t, http.MethodPut, "/admin/v1/workspaces/shop", srv.admin, fcmWorkspace, http.StatusOK, nil)
	f := &fcmFlow{srv: srv, creds: map[string][2]string{}}
	for _, app := range []string{"checkout", "push-checkout"} {
		var c struct {
			ClientID     string `json:"client_id"`
			ClientSecret string `json:"client_secret"`
		}
		srv.do(t, http.MethodPost, "/admin/v1/workspaces/shop/applications/"+app+"/secrets", srv.admin, "", http.StatusCreated, &c)
		f.creds[app] = [2]string{c.ClientID, c.ClientSecret}
	}
	jar, _ := cookiejar.New(nil)
	f.browser = &http.Client{Jar: jar}
	return f
}

func (f *fcmFlow) basic(app string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(f.creds[app][0], f.creds[app][1]) }
}

// start creates a verification of app for user mark and opens it in the
// browser, which starts its hand-over; it returns the request id and URL.
func (f *fcmFlow) start(t *testing.T, app string, allowNew bool) (id, url string) {
	t.Helper()
	var created struct {
		RequestID string `json:"request_id"`
		URL       string `json:"url"`
	}
	body := `{"user_id": "mark@gmail.com", "allow_new_device": false}`
	if allowNew {
		body = `{"user_id": "mark@gmail.com", "allow_new_device": true}`
	}
	f.srv.do(t, http.MethodPost, "/v1/verifications", f.basic(app), body, http.StatusCreated, &created)
	f.get(t, created.URL)
	return created.RequestID, created.URL
}

func (f *fcmFlow) get(t *testing.T, url string) string {
	t.Helper()
	resp, err := f.browser.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// finish answers the steps of a session until none is left.
func finish(t *testing.T, c *authenticator.Client, s *deviceproto.Session) {
	t.Helper()
	var err error
	for i := 0; s.Step != nil && i < 5; i++ {
		if s, err = c.Answer(t.Context(), s.VerificationID, s.Step.Index, map[string]any{}); err != nil {
			t.Fatal(err)
		}
	}
	if s.Status != "passed" {
		t.Fatalf("the phone's part ended %q, want passed: %+v", s.Status, s)
	}
}

// registerFCM signs a push_register request with an FCM token.
func registerFCM(t *testing.T, srv *testServer, c *authenticator.Client, token string) {
	t.Helper()
	var ch deviceproto.ChallengeResponse
	srv.do(t, http.MethodPost, authenticator.PathChallenge, nil, `{"cred_id": "`+c.CredID+`"}`, http.StatusOK, &ch)
	jws, err := deviceproto.SignRequest(c.Key, deviceproto.RequestClaims{
		CredID: c.CredID, Challenge: ch.Challenge, Action: deviceproto.ActionPushRegister, IssuedAt: time.Now().Unix(),
		Push: &deviceproto.PushRegistration{Type: deviceproto.PushFCM, Token: token},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(deviceproto.Envelope{JWS: jws})
	srv.do(t, http.MethodPost, "/device/v1/push", nil, string(b), http.StatusOK, nil)
}

// devicePushType returns the push type the admin API shows for the device.
func devicePushType(t *testing.T, srv *testServer, credID string) (pushType, state string) {
	t.Helper()
	var devs []struct {
		CredID   string `json:"web_2_device_cred_id"`
		State    string `json:"state"`
		PushType string `json:"push_type"`
	}
	srv.do(t, http.MethodGet, "/admin/v1/workspaces/shop/users/mark@gmail.com/devices", srv.admin, "", http.StatusOK, &devs)
	for _, d := range devs {
		if d.CredID == credID {
			return d.PushType, d.State
		}
	}
	t.Fatalf("device %s is not listed: %+v", credID, devs)
	return "", ""
}

// waitMessages waits until the fake has received n messages.
func waitMessages(t *testing.T, svc *fcmtest.Service, n int) []fcmtest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := svc.Messages()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeSendsFCM runs a server with -fcm-credentials against the fake
// FCM on loopback: a phone registered with an FCM token gets exactly one
// ids-only message for a push-mode verification, reads its inbox and
// finishes; the claims name its FCM registration; when FCM says the token
// is unregistered, the server clears the device's registration.
func TestServeSendsFCM(t *testing.T) {
	svc := fcmtest.New(t)
	srv := startServer(t, "-fcm-credentials", svc.WriteCredentials(t), "-fcm-endpoint", svc.URL)
	f := newFCMFlow(t, srv)
	ctx := t.Context()

	// The phone registers through a QR hand-over, then registers its token.
	_, url := f.start(t, "checkout", true)
	var p struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal([]byte(f.get(t, url+"/pairing")), &p); err != nil || p.URL == "" {
		t.Fatalf("pairing link: %v %+v", err, p)
	}
	key, err := authenticator.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	phone := &authenticator.Client{Key: key}
	s, err := phone.Pair(ctx, p.URL, "Pixel 9", "android")
	if err != nil {
		t.Fatal(err)
	}
	finish(t, phone, s)
	const fcmToken = "eF3kZ9vR4Tq0:APA91bHqL8v2kFz7yN3mWc5pR1sT6uJ9xE4aB0dG2hK7nM3qV8wY1zC5fL6oP9rS"
	registerFCM(t, srv, phone, fcmToken)
	if pt, _ := devicePushType(t, srv, phone.CredID); pt != "fcm" {
		t.Fatalf("push type after registering %q, want fcm", pt)
	}
	if n := len(svc.Messages()); n != 0 {
		t.Fatalf("%d FCM messages before any push-mode verification", n)
	}

	// A QR hand-over of the registered phone: the claims name its FCM
	// registration too.
	qid, url := f.start(t, "checkout", false)
	if err := json.Unmarshal([]byte(f.get(t, url+"/pairing")), &p); err != nil || p.URL == "" {
		t.Fatalf("pairing link: %v %+v", err, p)
	}
	if s, err = phone.Pair(ctx, p.URL, "Pixel 9", "android"); err != nil {
		t.Fatal(err)
	}
	finish(t, phone, s)
	var res map[string]string
	srv.do(t, http.MethodGet, "/v1/verifications/"+qid+"/result", f.basic("checkout"), "", http.StatusOK, &res)
	if res["push_type"] != "fcm" || res["push_token"] != fcmToken || res["web_2_device_cred_id"] != phone.CredID {
		t.Errorf("QR result push_type %q push_token %q cred %q; want the phone's FCM registration", res["push_type"], res["push_token"], res["web_2_device_cred_id"])
	}

	// A push-mode verification: exactly one message, ids only.
	vid, _ := f.start(t, "push-checkout", false)
	got := waitMessages(t, svc, 1)
	time.Sleep(100 * time.Millisecond) // a second message would come now
	if got = svc.Messages(); len(got) != 1 {
		t.Fatalf("%d FCM messages, want 1", len(got))
	}
	if got[0].Err != nil {
		t.Fatalf("the fake refused the message: %v", got[0].Err)
	}
	if want := "/v1/projects/" + svc.ProjectID + "/messages:send"; got[0].Path != want {
		t.Errorf("path %q, want %q", got[0].Path, want)
	}
	m := got[0].Message
	if diff := cmp.Diff(map[string]any{"verification_id": vid, "type": "tandem.prompt"}, m["data"]); diff != "" {
		t.Errorf("data (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"title": "Shop", "body": "Confirm it is you"}, m["notification"]); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	if m["token"] != fcmToken {
		t.Errorf("token %v, want the device's", m["token"])
	}
	if body := string(got[0].Body); strings.Contains(body, "mark@gmail.com") || strings.Contains(body, phone.CredID) {
		t.Errorf("the message carries user data: %s", body)
	}
	if n := svc.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}

	// The phone reads its inbox, accepts and finishes. (The challenge the
	// client kept is bound to the registration's verification: fetch an
	// unbound one for the inbox.)
	if _, err := phone.Challenge(ctx); err != nil {
		t.Fatal(err)
	}
	in, err := phone.Inbox(ctx, 0)
	if err != nil || len(in.Prompts) != 1 || in.Prompts[0].VerificationID != vid {
		t.Fatalf("inbox: %+v, %v; want the prompt of %s", in, err, vid)
	}
	s, err = phone.Accept(ctx, vid)
	if err != nil {
		t.Fatal(err)
	}
	finish(t, phone, s)
	srv.do(t, http.MethodGet, "/v1/verifications/"+vid+"/result", f.basic("push-checkout"), "", http.StatusOK, &res)
	if res["push_type"] != "fcm" || res["push_token"] != fcmToken || res["web_2_device_cred_id"] != phone.CredID {
		t.Errorf("result push_type %q push_token %q cred %q; want the phone's FCM registration", res["push_type"], res["push_token"], res["web_2_device_cred_id"])
	}

	// FCM says the token is unregistered: the registration is cleared, the
	// device stays active, and the prompt still waits in its inbox.
	svc.Fail(fcmToken, fcmtest.Unregistered)
	vid2, _ := f.start(t, "push-checkout", false)
	if got := waitMessages(t, svc, 2); len(got) != 2 {
		t.Fatalf("%d FCM messages, want 2", len(got))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		pt, state := devicePushType(t, srv, phone.CredID)
		if pt == "" && state == "active" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after UNREGISTERED the device has push type %q, state %q; want none, active", pt, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := phone.Challenge(ctx); err != nil {
		t.Fatal(err)
	}
	in, err = phone.Inbox(ctx, 0)
	if err != nil || len(in.Prompts) != 1 || in.Prompts[0].VerificationID != vid2 {
		t.Errorf("inbox after UNREGISTERED: %+v, %v", in, err)
	}
	if n := svc.TokenRequests(); n != 1 {
		t.Errorf("%d token requests, want 1 (the access token is cached)", n)
	}
}

// TestServeFCMConfiguration covers the start: FCM off is said once, and a
// bad credentials file or endpoint stops the start with a usage error that
// says what is wrong.
func TestServeFCMConfiguration(t *testing.T) {
	dsn := sqliteDSN(t)
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn}, env(nil))
	if n := strings.Count(s.stderr.String(), "FCM is off"); n != 1 {
		t.Errorf("the log says %d times that FCM is off, want once:\n%s", n, s.stderr)
	}
	s.stop(t)

	svc := fcmtest.New(t)
	path := svc.WriteCredentials(t)
	s = start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn}, env(map[string]string{"TANDEM_FCM_CREDENTIALS": path, "TANDEM_FCM_ENDPOINT": svc.URL}))
	if log := s.stderr.String(); !strings.Contains(log, "FCM is on") || !strings.Contains(log, svc.ProjectID) || strings.Contains(log, "FCM is off") {
		t.Errorf("with TANDEM_FCM_CREDENTIALS the log does not say FCM is on:\n%s", log)
	}
	s.stop(t)

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missingFile", []string{"-fcm-credentials", filepath.Join(dir, "nope.json")}, "-fcm-credentials: read the FCM service-account file"},
		{"notJSON", []string{"-fcm-credentials", write("a.json", "not json")}, "not a JSON service-account key"},
		{"noKey", []string{"-fcm-credentials", write("b.json", `{"type":"service_account","project_id":"p-1","client_email":"a@b","token_uri":"https://oauth2.googleapis.com/token"}`)}, "missing private_key"},
		{"httpEndpoint", []string{"-fcm-endpoint", "http://fcm.example.net"}, "-fcm-endpoint: \"http://fcm.example.net\" is http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t)}, tc.args...)
			err := Run(t.Context(), args, io.Discard, io.Discard, withSecretKey(env(nil)))
			var ue *usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v; want a usage error saying %q", err, tc.want)
			}
		})
	}
}
