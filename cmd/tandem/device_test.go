package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/skip2/go-qrcode"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/authenticator/authenticatortest"
	"github.com/tandem-id/tandem/module"
)

// deviceSteps is a phone workflow asking for each kind of answer.
func deviceSteps() []authenticatortest.Step {
	return []authenticatortest.Step{
		{Type: "number_prompt", DisplayName: "Number Prompt", Nodes: []module.Node{
			{Kind: "text", Text: "Pick the number shown on the web page."},
			{Kind: "choice", Name: "number", Options: []string{"17", "42", "88"}},
		}, Check: func(a map[string]json.RawMessage) (bool, string) { return string(a["number"]) == `"42"`, "" }},
		{Type: "proximity", DisplayName: "Proximity", Nodes: []module.Node{
			{Kind: "location", Name: "location", Text: "Share this phone's location."},
		}},
		{Type: "verify_pan", DisplayName: "Verify PAN", Nodes: []module.Node{
			{Kind: "input", Name: "pan_number", Label: "PAN", Required: true},
		}, Check: func(a map[string]json.RawMessage) (bool, string) {
			if string(a["pan_number"]) != `"ABCPE1234F"` {
				return false, "Enter a PAN of the form AAAAA9999A."
			}
			return true, ""
		}},
		{Type: "device_register", DisplayName: "Register", Nodes: []module.Node{{Kind: "text", Text: "Register this phone."}}},
	}
}

type deviceRun struct {
	code           int
	msg            string
	stdout, stderr string
}

// runDeviceCmd runs tandem device with args; terminal and stdin stand for
// the person at a terminal.
func runDeviceCmd(t *testing.T, terminal bool, stdin string, env map[string]string, args ...string) deviceRun {
	t.Helper()
	var stdout, stderr bytes.Buffer
	d := &deviceCmd{
		stdin: strings.NewReader(stdin), terminal: terminal,
		stdout: &stdout, stderr: &stderr,
		getenv: func(k string) string { return env[k] },
		now:    time.Now, pollEvery: 10 * time.Millisecond,
	}
	err := d.run(t.Context(), args)
	code, msg := exitStatus(err)
	return deviceRun{code: code, msg: msg, stdout: stdout.String(), stderr: stderr.String()}
}

// requestPaths lists the requests a fake got, with the problem code of
// refused ones.
func requestPaths(fake *authenticatortest.Server) []string {
	var out []string
	for _, r := range fake.Requests() {
		p := strings.TrimPrefix(r.Path, "/device/v1/")
		if r.Code != "" {
			p += " " + r.Code
		}
		out = append(out, p)
	}
	return out
}

func TestDevicePair(t *testing.T) {
	const (
		choose = "-choose=42"
		loc    = "-location=12.9716,77.5946,15"
		pan    = "-field=pan_number=ABCPE1234F"
	)
	tests := []struct {
		name     string
		args     []string // after "pair -home HOME"; QR is replaced by the QR URL
		env      map[string]string
		code     int
		msg      string   // in the one-line reason
		requests []string // what the server got
		status   string   // the fake's status afterwards
	}{
		{name: "Passes", args: []string{choose, loc, pan, "QR"}, code: 0,
			requests: []string{"pair", "answer", "answer", "answer", "answer"}, status: "passed"},
		{name: "URLBeforeFlags", args: []string{"QR", choose, loc, pan}, code: 0,
			requests: []string{"pair", "answer", "answer", "answer", "answer"}, status: "passed"},
		{name: "FlagsFromEnvironment", args: []string{loc, pan, "QR"}, env: map[string]string{"TANDEM_CHOOSE": "42"}, code: 0,
			requests: []string{"pair", "answer", "answer", "answer", "answer"}, status: "passed"},
		{name: "WrongButOfferedNumberFails", args: []string{"-choose", "17", loc, pan, "QR"}, code: 1, msg: "failed: Number Prompt failed.",
			requests: []string{"pair", "answer"}, status: "failed"},
		{name: "Deny", args: []string{"-deny", "QR"}, code: 1, msg: "failed: The person on the phone said this wasn't them.",
			requests: []string{"pair", "answer"}, status: "failed"},
		{name: "RefusedAnswer", args: []string{choose, loc, "-field", "pan_number=XYZ", "QR"}, code: 1, msg: `step "Verify PAN" refused the answer: Enter a PAN`,
			requests: []string{"pair", "answer", "answer", "answer"}, status: "in_progress"},

		// Usage errors: exit 2, no answer sent.
		{name: "ChooseNotAnOption", args: []string{"-choose", "99", loc, pan, "QR"}, code: 2,
			msg: `-choose "99" is not an option of step "Number Prompt": choose one of 17, 42, 88`, requests: []string{"pair"}, status: "in_progress"},
		{name: "FieldNotAnOption", args: []string{"-field", "number=7", "QR"}, code: 2,
			msg: `-field number "7" is not an option`, requests: []string{"pair"}, status: "in_progress"},
		{name: "NoChoice", args: []string{loc, "QR"}, code: 2, msg: "asks to choose one of 17, 42, 88: give -choose N",
			requests: []string{"pair"}, status: "in_progress"},
		{name: "NoLocation", args: []string{choose, pan, "QR"}, code: 2, msg: `step "Proximity" asks for this device's location: give -location`,
			requests: []string{"pair", "answer"}, status: "in_progress"},
		{name: "NoRequiredField", args: []string{choose, loc, "QR"}, code: 2, msg: `asks for "PAN": give -field pan_number=VALUE`,
			requests: []string{"pair", "answer", "answer"}, status: "in_progress"},
		{name: "LatitudeOutOfRange", args: []string{"-location", "91,0", "QR"}, code: 2, msg: "latitude 91 is not from -90 to 90"},
		{name: "LocationNotNumbers", args: []string{"-location", "here", "QR"}, code: 2, msg: `-location "here": use LAT,LON`},
		{name: "LocationNaN", args: []string{"-location", "NaN,1", "QR"}, code: 2, msg: `"NaN" is not a number`},
		{name: "BadAccuracy", args: []string{"-location", "1,2,-5", "QR"}, code: 2, msg: "accuracy -5 m must be more than 0"},
		{name: "MockWithoutLocation", args: []string{"-mock-location", "QR"}, code: 2, msg: "-mock-location needs -location"},
		{name: "DenyWithAnswers", args: []string{"-deny", choose, "QR"}, code: 2, msg: "-deny answers"},
		{name: "FieldWithoutValue", args: []string{"-field", "pan_number", "QR"}, code: 2, msg: "use NAME=VALUE"},
		{name: "FieldTwice", args: []string{"-field", "a=1", "-field", "a=2", "QR"}, code: 2, msg: "a is given twice"},
		{name: "NoQRCode", args: []string{choose}, code: 2, msg: "give the QR code's URL or -image"},
		{name: "QRCodeAndImage", args: []string{"-image", "x.png", "QR"}, code: 2, msg: "give the QR code's URL or -image"},
		{name: "TwoURLs", args: []string{"QR", "QR"}, code: 2, msg: "unexpected argument"},
		{name: "NotAPairingURL", args: []string{"https://example.com/x"}, code: 2, msg: "not a Tandem pairing URL"},
		{name: "MissingImage", args: []string{"-image", "no-such.png"}, code: 2, msg: "-image: open no-such.png"},
		{name: "UnknownFlag", args: []string{"-bogus", "QR"}, code: 2, msg: "flag provided but not defined: -bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := authenticatortest.New(t, deviceSteps()...)
			home := filepath.Join(t.TempDir(), "home")
			args := []string{"pair", "-home", home}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "QR", fake.QRURL()))
			}
			r := runDeviceCmd(t, false, "", tt.env, args...)
			if r.code != tt.code || !strings.Contains(r.msg, tt.msg) {
				t.Errorf("exit %d %q, want %d %q\nstdout:\n%s", r.code, r.msg, tt.code, tt.msg, r.stdout)
			}
			if strings.Contains(r.msg, "\n") {
				t.Errorf("the reason is not one line: %q", r.msg)
			}
			if diff := cmp.Diff(tt.requests, requestPaths(fake)); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
			if tt.status != "" {
				if st, _ := fake.Status(); st != tt.status {
					t.Errorf("fake status %q, want %q", st, tt.status)
				}
			}
		})
	}
}

func TestDevicePairAnswers(t *testing.T) {
	fake := authenticatortest.New(t, deviceSteps()...)
	home := filepath.Join(t.TempDir(), "home")
	r := runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-name", "ci-runner", "-choose", "42",
		"-location", "12.9716,77.5946", "-mock-location", "-field", "pan_number=ABCPE1234F", fake.QRURL())
	if r.code != 0 {
		t.Fatalf("exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
	answers := fake.Answers()
	if len(answers) != 4 {
		t.Fatalf("answers = %v", answers)
	}
	var loc struct {
		Lat, Lon     float64
		AccuracyM    float64 `json:"accuracy_m"`
		AccuracyKind string  `json:"accuracy_kind"`
		ReadAt       int64   `json:"read_at"`
		Mock         bool
	}
	if err := json.Unmarshal(answers[1]["location"], &loc); err != nil {
		t.Fatal(err)
	}
	if loc.Lat != 12.9716 || loc.Lon != 77.5946 || loc.AccuracyM != 10 || loc.AccuracyKind != "p95" || !loc.Mock || time.Since(time.Unix(loc.ReadAt, 0)) > time.Minute {
		t.Errorf("location answer = %+v", loc)
	}
	if pair := fake.Requests()[0].Pair; pair.DeviceName != "ci-runner" || pair.Platform != "cli" {
		t.Errorf("pair claims = %+v", pair)
	}
	for _, want := range []string{"Application:  mobile-app", "Browser:      203.0.113.7  Mozilla/5.0", "== Number Prompt ==", "Options: 17  42  88", `Answering: {"number":"42"}`, "Passed: Done."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}

	ks, err := authenticator.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	list, err := ks.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "ci-runner" || list[0].Server != fake.URL || list[0].CredID != fake.Requests()[1].Claims.CredID {
		t.Fatalf("keystore = %+v", list)
	}

	// Pairing again with the same server reuses the key: the server knows
	// the device, and the keystore keeps one entry.
	fake.Restart()
	r = runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-choose", "42", "-location", "1,2", "-field", "pan_number=ABCPE1234F", fake.QRURL())
	if r.code != 0 {
		t.Fatalf("second pair: exit %d %q", r.code, r.msg)
	}
	if again, _ := ks.List(); !cmp.Equal(again, list) {
		t.Errorf("keystore after the second pairing = %+v, want %+v", again, list)
	}
	if !strings.Contains(r.stdout, `as "ci-runner" (credential `+list[0].CredID+")") {
		t.Errorf("second pairing did not reuse the device:\n%s", r.stdout)
	}

	// -name of a new device makes a second key for the same server.
	fake.Restart()
	r = runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-name", "second", "-deny", fake.QRURL())
	if r.code != 1 {
		t.Fatalf("pair -name second -deny: exit %d %q", r.code, r.msg)
	}
	if all, _ := ks.List(); len(all) != 2 {
		t.Errorf("keystore = %+v, want two entries", all)
	}
	// Now two devices are paired with the server: -name must choose.
	fake.Restart()
	r = runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-deny", fake.QRURL())
	if r.code != 2 || !strings.Contains(r.msg, "choose one with -name") {
		t.Errorf("pair with two devices: exit %d %q", r.code, r.msg)
	}
}

func TestDevicePairProtocolErrors(t *testing.T) {
	fake := authenticatortest.New(t, deviceSteps()...)
	home := filepath.Join(t.TempDir(), "home")
	if r := runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-deny", fake.QRURL()); r.code != 1 {
		t.Fatalf("first pair: exit %d %q", r.code, r.msg)
	}
	r := runDeviceCmd(t, false, "", nil, "pair", "-home", home, "-deny", fake.QRURL())
	if r.code != 2 || !strings.Contains(r.msg, "pair: the server refused: pairing_invalid (HTTP 404)") {
		t.Errorf("reused QR code: exit %d %q", r.code, r.msg)
	}
}

func TestDevicePairImage(t *testing.T) {
	fake := authenticatortest.New(t, deviceSteps()[3])
	dir := t.TempDir()
	png := filepath.Join(dir, "qr.png")
	if err := qrcode.WriteFile(fake.QRURL(), qrcode.Medium, 256, png); err != nil {
		t.Fatal(err)
	}
	r := runDeviceCmd(t, false, "", nil, "pair", "-home", filepath.Join(dir, "home"), "-image", png)
	if r.code != 0 {
		t.Fatalf("exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
	if diff := cmp.Diff([]string{"pair", "answer"}, requestPaths(fake)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestDeviceInteractive(t *testing.T) {
	t.Run("Answers", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		// A wrong option and a bad location are asked again; a wrong PAN
		// comes back from the server and is asked again.
		stdin := "y\n99\n42\nsomewhere\n12.97,77.59,20\nXYZ\nABCPE1234F\n"
		r := runDeviceCmd(t, true, stdin, nil, "pair", "-home", filepath.Join(t.TempDir(), "h"), fake.QRURL())
		if r.code != 0 {
			t.Fatalf("exit %d %q\n%s", r.code, r.msg, r.stdout)
		}
		for _, want := range []string{"Did you start this on the web page?", `"99" is not one of the options.`, "PAN: ", "! Enter a PAN of the form AAAAA9999A.", "Passed:"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
			}
		}
		want := []string{"pair", "answer", "answer", "answer", "answer", "answer"}
		if diff := cmp.Diff(want, requestPaths(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("ThisWasntMe", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		r := runDeviceCmd(t, true, "maybe\nn\n", nil, "pair", "-home", filepath.Join(t.TempDir(), "h"), fake.QRURL())
		if r.code != 1 || !strings.Contains(r.msg, "wasn't them") {
			t.Errorf("exit %d %q", r.code, r.msg)
		}
		if a := fake.Requests()[1].Claims.Action; a != "deny" {
			t.Errorf("action %q, want deny", a)
		}
	})
	t.Run("InputEnds", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		r := runDeviceCmd(t, true, "y\n", nil, "pair", "-home", filepath.Join(t.TempDir(), "h"), fake.QRURL())
		if r.code != 2 || !strings.Contains(r.msg, "the input ended") {
			t.Errorf("exit %d %q", r.code, r.msg)
		}
		if diff := cmp.Diff([]string{"pair"}, requestPaths(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
}

// registered returns a keystore home holding one device known to fake.
func registered(t *testing.T, fake *authenticatortest.Server, name string) (home, credID string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	ks, err := authenticator.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	key, err := authenticator.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	credID = fake.Register(&key.PublicKey)
	if err := ks.Save(authenticator.Entry{Server: fake.URL, CredID: credID, Name: name}, key); err != nil {
		t.Fatal(err)
	}
	return home, credID
}

func TestDeviceInbox(t *testing.T) {
	t.Run("AcceptsAndAnswers", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()[0], deviceSteps()[3])
		home, cred := registered(t, fake, "phone")
		go func() {
			time.Sleep(100 * time.Millisecond)
			fake.Push(cred)
		}()
		r := runDeviceCmd(t, false, "", nil, "inbox", "-home", home, "-wait", "10s", "-choose", "42")
		if r.code != 0 {
			t.Fatalf("exit %d %q\n%s", r.code, r.msg, r.stdout)
		}
		want := []string{"challenge", "inbox", "accept", "answer", "answer"}
		if diff := cmp.Diff(want, requestPaths(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("NoPrompt", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		home, _ := registered(t, fake, "phone")
		r := runDeviceCmd(t, false, "", nil, "inbox", "-home", home, "-wait", "0s", "-choose", "42")
		if r.code != 1 || r.msg != "no prompt arrived within 0s" {
			t.Errorf("exit %d %q", r.code, r.msg)
		}
	})
	t.Run("WaitsWithoutSpinning", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		home, _ := registered(t, fake, "phone")
		r := runDeviceCmd(t, false, "", nil, "inbox", "-home", home, "-wait", "1200ms", "-choose", "42")
		if r.code != 1 || r.msg != "no prompt arrived within 1.2s" {
			t.Errorf("exit %d %q", r.code, r.msg)
		}
		// One held request (2 s: the wait rounded up), not a busy loop.
		if diff := cmp.Diff([]string{"challenge", "inbox"}, requestPaths(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("BadChoiceSendsNoAnswer", func(t *testing.T) {
		fake := authenticatortest.New(t, deviceSteps()...)
		home, cred := registered(t, fake, "phone")
		fake.Push(cred)
		r := runDeviceCmd(t, false, "", nil, "inbox", "-home", home, "-wait", "1s", "-choose", "5")
		if r.code != 2 || !strings.Contains(r.msg, `-choose "5" is not an option`) {
			t.Errorf("exit %d %q", r.code, r.msg)
		}
		if diff := cmp.Diff([]string{"challenge", "inbox", "accept"}, requestPaths(fake)); diff != "" {
			t.Errorf("requests (-want +got):\n%s", diff)
		}
	})
	t.Run("Usage", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "empty")
		for _, tt := range []struct {
			args []string
			msg  string
		}{
			{[]string{"inbox", "-home", empty}, "no device is paired"},
			{[]string{"inbox", "-home", empty, "-wait", "-1s"}, "-wait must not be negative"},
			{[]string{"inbox", "-home", empty, "-wait", "soon"}, "invalid value"},
			{[]string{"inbox", "-home", empty, "extra"}, `unexpected argument "extra"`},
			{[]string{"inbox", "-home", empty, "-name", "nobody"}, `no device called "nobody"`},
		} {
			r := runDeviceCmd(t, false, "", nil, tt.args...)
			if r.code != 2 || !strings.Contains(r.msg, tt.msg) {
				t.Errorf("%v: exit %d %q, want 2 %q", tt.args, r.code, r.msg, tt.msg)
			}
		}
	})
}

func TestDeviceListForget(t *testing.T) {
	fake := authenticatortest.New(t)
	home, cred := registered(t, fake, "phone")
	env := map[string]string{"TANDEM_HOME": home}

	// Through Run, as the command line does.
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), []string{"device", "list"}, &stdout, &stderr, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NAME", "phone", fake.URL, cred} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("list lacks %q:\n%s", want, stdout.String())
		}
	}

	if r := runDeviceCmd(t, false, "", env, "forget"); r.code != 2 || !strings.Contains(r.msg, "name the device") {
		t.Errorf("forget without a name: exit %d %q", r.code, r.msg)
	}
	if r := runDeviceCmd(t, false, "", env, "forget", "tablet"); r.code != 2 || !strings.Contains(r.msg, `no device called "tablet"`) {
		t.Errorf("forget tablet: exit %d %q", r.code, r.msg)
	}
	r := runDeviceCmd(t, false, "", env, "forget", "phone")
	if r.code != 0 || !strings.Contains(r.stdout, `Forgot "phone" (credential `+cred) {
		t.Errorf("forget phone: exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
	if r := runDeviceCmd(t, false, "", env, "list"); r.code != 0 || !strings.Contains(r.stdout, "No paired devices") {
		t.Errorf("list after forget: exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
	if files, _ := os.ReadDir(home); len(files) != 0 {
		t.Errorf("home still holds %d files", len(files))
	}
}

func TestDeviceRemove(t *testing.T) {
	fake := authenticatortest.New(t)
	home, cred := registered(t, fake, "phone")
	env := map[string]string{"TANDEM_HOME": home}

	if r := runDeviceCmd(t, false, "", env, "remove"); r.code != 2 || !strings.Contains(r.msg, "name the device") {
		t.Errorf("remove without a name: exit %d %q", r.code, r.msg)
	}
	r := runDeviceCmd(t, false, "", env, "remove", "phone")
	if r.code != 0 || !strings.Contains(r.stdout, "the server revoked credential "+cred) || !strings.Contains(r.stdout, "Forgot its key") {
		t.Fatalf("remove phone: exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
	if diff := cmp.Diff([]string{"challenge", "revoke"}, requestPaths(fake)); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if files, _ := os.ReadDir(home); len(files) != 0 {
		t.Errorf("home still holds %d files", len(files))
	}

	// A device the server has already revoked is forgotten too.
	home, _ = registered(t, fake, "tablet")
	env = map[string]string{"TANDEM_HOME": home}
	if r := runDeviceCmd(t, false, "", env, "remove", "tablet"); r.code != 0 {
		t.Fatalf("first remove: exit %d %q", r.code, r.msg)
	}
	home2, cred2 := registered(t, fake, "watch")
	fake.Revoke(cred2)
	env = map[string]string{"TANDEM_HOME": home2}
	r = runDeviceCmd(t, false, "", env, "remove", "watch")
	if r.code != 0 || !strings.Contains(r.stdout, "no longer knows") {
		t.Errorf("remove of a revoked device: exit %d %q\n%s", r.code, r.msg, r.stdout)
	}
}

func TestDeviceUsage(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"NoSubcommand", nil, 2, "name a subcommand"},
		{"UnknownSubcommand", []string{"frob"}, 2, `unknown subcommand "frob"`},
		{"Help", []string{"help"}, 0, ""},
		{"PairHelp", []string{"pair", "-h"}, 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runDeviceCmd(t, false, "", nil, tt.args...)
			if r.code != tt.code || !strings.Contains(r.msg, tt.msg) {
				t.Errorf("exit %d %q, want %d %q", r.code, r.msg, tt.code, tt.msg)
			}
		})
	}
}

func TestDeviceExitStatus(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code int
		msg  string
	}{
		{nil, 0, ""},
		{errors.New("boom"), 1, "boom"},
		{&usageError{msg: "bad flag"}, 2, "bad flag"},
		{&exitError{code: 1, msg: "failed: no"}, 1, "failed: no"},
		{&exitError{code: 2, msg: "refused"}, 2, "refused"},
	} {
		code, msg := exitStatus(tt.err)
		if code != tt.code || msg != tt.msg {
			t.Errorf("exitStatus(%v) = %d %q, want %d %q", tt.err, code, msg, tt.code, tt.msg)
		}
	}
}
