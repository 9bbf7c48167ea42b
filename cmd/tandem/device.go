package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tandem-id/tandem/authenticator"
	"github.com/tandem-id/tandem/deviceproto"
)

// exitError ends the command with status code and msg as the one-line
// reason on stderr.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// Exit statuses of tandem device.
const (
	exitFailed   = 1 // the phone's part of the workflow failed
	exitProtocol = 2 // a usage, protocol or local error
)

const deviceUsage = `Usage:
  tandem device pair   [flags] [QR-URL]  pair with the server of a QR code and answer the phone's steps
  tandem device inbox  [flags]           wait for a push-mode prompt, accept it and answer the steps
  tandem device list   [-home DIR]       list the paired devices
  tandem device remove [-home DIR] NAME  remove a device from its server (it revokes the
                                         credential), then forget its key
  tandem device forget [-home DIR] NAME  forget a device's key (NAME or its credential id);
                                         the server keeps the device

pair takes the QR code's text (https://SERVER/d/TOKEN) or, with -image, a PNG
of it. On a terminal, without answer flags, it shows each step and asks.
Otherwise it answers from the flags:
  -choose N            pick option N in a choice step (N must be one of the options)
  -field NAME=VALUE    fill the input (or choice) NAME; repeatable
  -location LAT,LON[,ACCURACY_M]
                       the location to share (accuracy: a 95 % radius, default 10 m)
  -mock-location       report the location as mocked
  -deny                answer "this wasn't me"

Exit status: 0 when the phone's part of the workflow passed, 1 when it failed,
2 on a usage, protocol or local error. Keys are kept in -home (default: the
user configuration directory + /tandem/device, e.g. ~/.config/tandem/device);
every flag can also be set with TANDEM_ + its name (TANDEM_HOME, TANDEM_CHOOSE…).
`

// deviceCmd runs tandem device; tests replace its terminal and clock.
type deviceCmd struct {
	stdin          io.Reader
	terminal       bool // stdin is a terminal: ask instead of reading flags
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time
	http           *http.Client
	pollEvery      time.Duration

	in *bufio.Reader
}

func runDevice(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	d := &deviceCmd{
		stdin: os.Stdin, terminal: isTerminal(os.Stdin),
		stdout: stdout, stderr: stderr, getenv: getenv, now: time.Now,
		// Longer than the longest inbox wait the server grants (60 s).
		http:      &http.Client{Timeout: 90 * time.Second},
		pollEvery: time.Second,
	}
	return d.run(ctx, args)
}

// isTerminal tells whether f is a terminal: a character device that is
// not the null device.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

func (d *deviceCmd) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(d.stderr, deviceUsage)
		return &usageError{msg: "device: name a subcommand: pair, inbox, list, remove or forget"}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "pair":
		return d.pair(ctx, rest)
	case "inbox":
		return d.inbox(ctx, rest)
	case "list":
		return d.list(rest)
	case "forget":
		return d.forget(rest)
	case "remove":
		return d.remove(ctx, rest)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(d.stdout, deviceUsage)
		return nil
	}
	fmt.Fprint(d.stderr, deviceUsage)
	return &usageError{msg: fmt.Sprintf("device: unknown subcommand %q", sub)}
}

func (d *deviceCmd) flagSet(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet("tandem device "+name, flag.ContinueOnError)
	fs.SetOutput(d.stderr)
	home := fs.String("home", "", "directory of the device keys (default: the user configuration directory + /tandem/device)")
	return fs, home
}

// parse parses args with parseFlags, allowing up to maxArgs positional
// arguments before, between or after the flags, and returns them.
func (d *deviceCmd) parse(fs *flag.FlagSet, args []string, maxArgs int) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // fs.Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if err := parseFlags(fs, flags, d.getenv); err != nil {
		return nil, err
	}
	if len(pos) > maxArgs {
		return nil, &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), pos[maxArgs])}
	}
	return pos, nil
}

func (d *deviceCmd) keystore(home string) (*authenticator.Keystore, error) {
	if home == "" {
		dir, err := os.UserConfigDir()
		if err != nil {
			return nil, &exitError{exitProtocol, "no configuration directory for the device keys: give -home DIR (" + err.Error() + ")"}
		}
		home = filepath.Join(dir, "tandem", "device")
	}
	ks, err := authenticator.Open(home)
	if err != nil {
		return nil, &exitError{exitProtocol, err.Error()}
	}
	return ks, nil
}

// answerFlags are the flags that answer steps without a terminal.
type answerFlags struct {
	choose   string
	location string
	mock     bool
	fields   fieldFlags
	deny     bool

	loc *deviceproto.Location // parsed -location, without ReadAt
}

func (a *answerFlags) register(fs *flag.FlagSet) {
	a.fields = fieldFlags{}
	fs.StringVar(&a.choose, "choose", "", "pick `N` in a choice step (N must be one of its options)")
	fs.StringVar(&a.location, "location", "", "share the location `LAT,LON[,ACCURACY_M]` (accuracy: a 95 % radius in metres, default 10)")
	fs.BoolVar(&a.mock, "mock-location", false, "report the -location as mocked")
	fs.Var(a.fields, "field", "fill the input or choice `NAME=VALUE`; repeatable")
	fs.BoolVar(&a.deny, "deny", false, `answer "this wasn't me"`)
}

// given tells whether any answer flag was set.
func (a *answerFlags) given() bool {
	return a.choose != "" || a.location != "" || a.mock || len(a.fields) > 0 || a.deny
}

// validate checks the answer flags and parses -location.
func (a *answerFlags) validate() error {
	if a.deny && (a.choose != "" || a.location != "" || a.mock || len(a.fields) > 0) {
		return &usageError{msg: "-deny answers \"this wasn't me\": give it alone, without -choose, -field or -location"}
	}
	if a.mock && a.location == "" {
		return &usageError{msg: "-mock-location needs -location LAT,LON[,ACCURACY_M]"}
	}
	if a.location != "" {
		loc, err := parseLocation(a.location)
		if err != nil {
			return &usageError{msg: "-location " + strconv.Quote(a.location) + ": " + err.Error()}
		}
		loc.Mock = a.mock
		a.loc = loc
	}
	return nil
}

// defaultAccuracyM is the accuracy of a -location given without one.
const defaultAccuracyM = 10

// parseLocation parses LAT,LON[,ACCURACY_M].
func parseLocation(s string) (*deviceproto.Location, error) {
	parts := strings.Split(s, ",")
	if len(parts) < 2 || len(parts) > 3 {
		return nil, errors.New("use LAT,LON or LAT,LON,ACCURACY_M in decimal degrees and metres, e.g. 12.9716,77.5946,15")
	}
	var v [3]float64
	v[2] = defaultAccuracyM
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a number; use LAT,LON[,ACCURACY_M], e.g. 12.9716,77.5946,15", p)
		}
		v[i] = f
	}
	switch {
	case v[0] < -90 || v[0] > 90:
		return nil, fmt.Errorf("latitude %g is not from -90 to 90", v[0])
	case v[1] < -180 || v[1] > 180:
		return nil, fmt.Errorf("longitude %g is not from -180 to 180", v[1])
	case v[2] <= 0 || v[2] > 100000:
		return nil, fmt.Errorf("accuracy %g m must be more than 0 and at most 100000", v[2])
	}
	return &deviceproto.Location{Lat: v[0], Lon: v[1], AccuracyM: v[2], AccuracyKind: "p95"}, nil
}

// fieldFlags collects -field NAME=VALUE.
type fieldFlags map[string]string

func (f fieldFlags) String() string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k+"="+f[k])
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

func (f fieldFlags) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return errors.New("use NAME=VALUE")
	}
	if _, dup := f[name]; dup {
		return fmt.Errorf("%s is given twice", name)
	}
	f[name] = value
	return nil
}

func (d *deviceCmd) pair(ctx context.Context, args []string) error {
	fs, home := d.flagSet("pair")
	image := fs.String("image", "", "read the QR code from `FILE.png` instead of the argument")
	name := fs.String("name", "", "the device's name: picks the key of that name for this server, or names a new one (default: the host name)")
	var af answerFlags
	af.register(fs)
	pos, err := d.parse(fs, args, 1)
	if err != nil {
		return err
	}
	var qr string
	if len(pos) == 1 {
		qr = pos[0]
	}
	if (qr == "") == (*image == "") {
		return &usageError{msg: "device pair: give the QR code's URL or -image FILE.png (one of them)"}
	}
	if err := af.validate(); err != nil {
		return err
	}
	if *image != "" {
		f, err := os.Open(*image)
		if err != nil {
			return &usageError{msg: "-image: " + err.Error()}
		}
		qr, err = authenticator.DecodeQRPNG(f)
		f.Close()
		if err != nil {
			return &usageError{msg: "-image " + *image + ": " + err.Error()}
		}
	}
	base, _, err := authenticator.ParseQRURL(qr)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	ks, err := d.keystore(*home)
	if err != nil {
		return err
	}
	entry, key, err := d.pickKey(ks, base, *name)
	if err != nil {
		return err
	}
	c := &authenticator.Client{HTTP: d.http, Key: key, CredID: entry.CredID, Now: d.now, Server: base}
	s, err := c.Pair(ctx, qr, entry.Name, "cli")
	if err != nil {
		return protocolError("pair", err)
	}
	if s.CredID != entry.CredID {
		entry.CredID, entry.CreatedAt = s.CredID, d.now().UTC().Truncate(time.Second)
		if err := ks.Save(entry, key); err != nil {
			return &exitError{exitProtocol, "paired, but the key could not be kept: " + err.Error()}
		}
	}
	fmt.Fprintf(d.stdout, "Paired with %s as %q (credential %s).\n", base, entry.Name, s.CredID)
	return d.runSession(ctx, c, s, &af)
}

// pickKey chooses the key to pair with base: the entry of that server
// called name, or its only entry when name is empty; a new key when there
// is none.
func (d *deviceCmd) pickKey(ks *authenticator.Keystore, base, name string) (authenticator.Entry, *ecdsa.PrivateKey, error) {
	entries, err := ks.Find(base)
	if err != nil {
		return authenticator.Entry{}, nil, &exitError{exitProtocol, err.Error()}
	}
	if name != "" {
		entries = slices.DeleteFunc(entries, func(e authenticator.Entry) bool { return e.Name != name })
	}
	switch len(entries) {
	case 0:
		if name == "" {
			name = defaultDeviceName()
		}
		key, err := authenticator.NewKey()
		if err != nil {
			return authenticator.Entry{}, nil, &exitError{exitProtocol, "generate a key: " + err.Error()}
		}
		return authenticator.Entry{Server: base, Name: name}, key, nil
	case 1:
		key, err := ks.Key(entries[0])
		if err != nil {
			return authenticator.Entry{}, nil, &exitError{exitProtocol, err.Error()}
		}
		return entries[0], key, nil
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = fmt.Sprintf("%q (%s)", e.Name, e.CredID)
	}
	return authenticator.Entry{}, nil, &usageError{msg: fmt.Sprintf("%d devices are paired with %s: %s; choose one with -name", len(entries), base, strings.Join(names, ", "))}
}

func defaultDeviceName() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "tandem-cli"
	}
	return h
}

func (d *deviceCmd) inbox(ctx context.Context, args []string) error {
	fs, home := d.flagSet("inbox")
	name := fs.String("name", "", "the device (`NAME` or credential id) whose inbox to read (default: the only one)")
	wait := fs.Duration("wait", 60*time.Second, "how long to wait for a prompt")
	var af answerFlags
	af.register(fs)
	if _, err := d.parse(fs, args, 0); err != nil {
		return err
	}
	if *wait < 0 {
		return &usageError{msg: "-wait must not be negative"}
	}
	if err := af.validate(); err != nil {
		return err
	}
	ks, err := d.keystore(*home)
	if err != nil {
		return err
	}
	var entry authenticator.Entry
	if *name != "" {
		if entry, err = ks.Lookup(*name); err != nil {
			return &usageError{msg: err.Error()}
		}
	} else {
		all, err := ks.List()
		if err != nil {
			return &exitError{exitProtocol, err.Error()}
		}
		switch len(all) {
		case 0:
			return &usageError{msg: "no device is paired in " + ks.Dir() + ": run tandem device pair first"}
		case 1:
			entry = all[0]
		default:
			return &usageError{msg: fmt.Sprintf("%d devices are paired: choose one with -name (see tandem device list)", len(all))}
		}
	}
	key, err := ks.Key(entry)
	if err != nil {
		return &exitError{exitProtocol, err.Error()}
	}
	c := &authenticator.Client{HTTP: d.http, Key: key, CredID: entry.CredID, Now: d.now, Server: entry.Server}
	fmt.Fprintf(d.stdout, "Waiting up to %s for a prompt to %q at %s…\n", *wait, entry.Name, entry.Server)
	deadline := d.now().Add(*wait)
	var prompt *deviceproto.InboxPrompt
	for prompt == nil {
		// The server holds each request up to 60 s; a request is sent
		// even with -wait 0s, and none once less than a second is left.
		chunk := min(deadline.Sub(d.now()), 60*time.Second)
		r, err := c.Inbox(ctx, max(chunk, 0))
		if err != nil {
			return protocolError("inbox", err)
		}
		if len(r.Prompts) > 0 {
			prompt = &r.Prompts[0]
		} else if deadline.Sub(d.now()) < time.Second {
			return &exitError{exitFailed, fmt.Sprintf("no prompt arrived within %s", *wait)}
		}
	}
	s, err := c.Accept(ctx, prompt.VerificationID)
	if err != nil {
		return protocolError("accept", err)
	}
	fmt.Fprintf(d.stdout, "Accepted the prompt of verification %s.\n", s.VerificationID)
	return d.runSession(ctx, c, s, &af)
}

// runSession shows the hand-over's context and answers its steps until the
// phone's part passes (nil) or fails (exit status 1).
func (d *deviceCmd) runSession(ctx context.Context, c *authenticator.Client, s *deviceproto.Session, af *answerFlags) error {
	interactive := d.terminal && !af.given()
	d.in = bufio.NewReader(d.stdin)
	d.showContext(s.Context)
	deny := af.deny
	if interactive && s.Status == "in_progress" {
		ok, err := d.confirm("Did you start this on the web page? [y = continue, n = this wasn't me]: ")
		if err != nil {
			return err
		}
		deny = !ok
	}
	answered := -1 // the step last answered, to stop repeating a refused answer
	for polls := 0; ; {
		switch s.Status {
		case "passed":
			fmt.Fprintln(d.stdout, "Passed:", clean(s.Message))
			return nil
		case "failed":
			return &exitError{exitFailed, "failed: " + clean(s.Message)}
		case "in_progress":
		default:
			return &exitError{exitProtocol, fmt.Sprintf("the server answered an unknown status %q", clean(s.Status))}
		}
		var err error
		if s.Step == nil {
			// Nothing to answer yet: read the session again shortly.
			if polls++; polls > 120 {
				return &exitError{exitProtocol, "the server gave no step to answer for two minutes"}
			}
			select {
			case <-ctx.Done():
				return protocolError("session", ctx.Err())
			case <-time.After(d.pollEvery):
			}
			if s, err = c.Session(ctx, s.VerificationID); err != nil {
				return protocolError("session", err)
			}
			continue
		}
		p := s.Step
		d.showPrompt(p)
		if p.Error != "" && answered == p.Index && !interactive {
			return &exitError{exitFailed, fmt.Sprintf("step %q refused the answer: %s", clean(p.DisplayName), clean(p.Error))}
		}
		if deny {
			fmt.Fprintln(d.stdout, "Answering: this wasn't me.")
			if s, err = c.Deny(ctx, s.VerificationID, p.Index); err != nil {
				return protocolError("deny", err)
			}
			continue
		}
		ans, err := d.answerFor(p, af, interactive)
		if err != nil {
			return err
		}
		if s, err = c.Answer(ctx, s.VerificationID, p.Index, ans); err != nil {
			return protocolError("answer", err)
		}
		answered = p.Index
	}
}

// answerFor builds the answer to a prompt from the flags, or by asking on
// a terminal. A flag that does not fit the prompt is a usage error, and
// nothing is sent.
func (d *deviceCmd) answerFor(p *deviceproto.Prompt, af *answerFlags, interactive bool) (map[string]any, error) {
	step := clean(p.DisplayName)
	ans := map[string]any{}
	for _, n := range p.Nodes {
		label := clean(cmp.Or(n.Label, n.Text, n.Name))
		switch n.Kind {
		case "text", "number":
			continue
		case "input":
			if n.Name == "" {
				continue
			}
			v, ok := af.fields[n.Name]
			if !ok && interactive {
				line, err := d.ask(label + ": ")
				if err != nil {
					return nil, err
				}
				v, ok = line, true
			}
			if !ok {
				if n.Required {
					return nil, &usageError{msg: fmt.Sprintf("step %q asks for %q: give -field %s=VALUE", step, label, n.Name)}
				}
				continue
			}
			ans[n.Name] = v
		case "choice":
			opts := make([]string, len(n.Options))
			for i, o := range n.Options {
				opts[i] = clean(o)
			}
			v, ok := af.fields[n.Name]
			flagName := "-field " + n.Name
			if !ok && af.choose != "" {
				v, ok, flagName = af.choose, true, "-choose"
			}
			if ok && !slices.Contains(n.Options, v) {
				return nil, &usageError{msg: fmt.Sprintf("%s %q is not an option of step %q: choose one of %s", flagName, v, step, strings.Join(opts, ", "))}
			}
			for !ok && interactive {
				line, err := d.ask(fmt.Sprintf("%s [%s]: ", cmp.Or(label, "Choose"), strings.Join(opts, " / ")))
				if err != nil {
					return nil, err
				}
				if slices.Contains(n.Options, line) {
					v, ok = line, true
				} else {
					fmt.Fprintf(d.stdout, "%q is not one of the options.\n", line)
				}
			}
			if !ok {
				return nil, &usageError{msg: fmt.Sprintf("step %q asks to choose one of %s: give -choose N", step, strings.Join(opts, ", "))}
			}
			ans[n.Name] = v
		case "location":
			loc := af.loc
			for loc == nil && interactive {
				line, err := d.ask("Location to share, LAT,LON[,ACCURACY_M]: ")
				if err != nil {
					return nil, err
				}
				if loc, err = parseLocation(line); err != nil {
					fmt.Fprintln(d.stdout, err)
				}
			}
			if loc == nil {
				return nil, &usageError{msg: fmt.Sprintf("step %q asks for this device's location: give -location LAT,LON[,ACCURACY_M]", step)}
			}
			l := *loc
			l.ReadAt = d.now().Unix()
			ans[cmp.Or(n.Name, "location")] = l
		default:
			if n.Name != "" {
				return nil, &exitError{exitProtocol, fmt.Sprintf("step %q has a %q node, which this authenticator cannot answer", step, clean(n.Kind))}
			}
		}
	}
	if !interactive {
		b, _ := json.Marshal(ans)
		fmt.Fprintf(d.stdout, "Answering: %s\n", b)
	}
	return ans, nil
}

func (d *deviceCmd) showContext(c deviceproto.Context) {
	w := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "Application:\t%s\n", clean(c.Application))
	if c.WebIP != "" || c.WebUserAgent != "" {
		fmt.Fprintf(w, "Browser:\t%s\n", clean(strings.TrimSpace(c.WebIP+"  "+c.WebUserAgent)))
	}
	if c.RequestedAt > 0 {
		fmt.Fprintf(w, "Requested:\t%s\n", time.Unix(c.RequestedAt, 0).Local().Format("2006-01-02 15:04:05 MST"))
	}
	if c.BindingMessage != "" {
		fmt.Fprintf(w, "Message:\t%s\n", clean(c.BindingMessage))
	}
	w.Flush()
}

func (d *deviceCmd) showPrompt(p *deviceproto.Prompt) {
	fmt.Fprintf(d.stdout, "\n== %s ==\n", clean(cmp.Or(p.DisplayName, p.Type)))
	for _, n := range p.Nodes {
		switch n.Kind {
		case "text", "location":
			if n.Text != "" {
				fmt.Fprintln(d.stdout, clean(n.Text))
			}
		case "number":
			fmt.Fprintf(d.stdout, "%s    %s\n", clean(n.Label), clean(cmp.Or(n.Value, n.Text)))
		case "choice":
			if t := cmp.Or(n.Label, n.Text); t != "" {
				fmt.Fprintln(d.stdout, clean(t))
			}
			opts := make([]string, len(n.Options))
			for i, o := range n.Options {
				opts[i] = clean(o)
			}
			fmt.Fprintf(d.stdout, "Options: %s\n", strings.Join(opts, "  "))
		case "input":
			if n.Hint != "" {
				fmt.Fprintf(d.stdout, "%s (%s)\n", clean(cmp.Or(n.Label, n.Name)), clean(n.Hint))
			}
		}
		if n.Error != "" {
			fmt.Fprintln(d.stdout, "!", clean(n.Error))
		}
	}
	if p.Error != "" {
		fmt.Fprintln(d.stdout, "!", clean(p.Error))
	}
}

// ask prints question and reads one line of the terminal.
func (d *deviceCmd) ask(question string) (string, error) {
	fmt.Fprint(d.stdout, question)
	line, err := d.in.ReadString('\n')
	if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
		return "", &exitError{exitProtocol, "no answer: the input ended"}
	}
	return strings.TrimSpace(line), nil
}

// confirm asks a yes/no question until the answer is one of them.
func (d *deviceCmd) confirm(question string) (bool, error) {
	for {
		line, err := d.ask(question)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(line) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
	}
}

// clean makes text from the server safe to print: control characters
// (terminal escapes among them) become spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// protocolError turns a failed request into exit status 2 with a reason.
func protocolError(what string, err error) error {
	var p *authenticator.ProblemError
	switch {
	case errors.Is(err, context.Canceled):
		return &exitError{exitProtocol, what + ": interrupted"}
	case errors.As(err, &p):
		msg := fmt.Sprintf("%s: the server refused: %s", what, clean(p.Error()))
		switch p.Code {
		case "device_revoked", "unknown_credential":
			msg += " (forget this device with tandem device forget NAME, then pair again)"
		case "stale_request":
			msg += " (check this computer's clock)"
		}
		return &exitError{exitProtocol, msg}
	}
	return &exitError{exitProtocol, what + ": " + clean(err.Error())}
}

func (d *deviceCmd) list(args []string) error {
	fs, home := d.flagSet("list")
	if _, err := d.parse(fs, args, 0); err != nil {
		return err
	}
	ks, err := d.keystore(*home)
	if err != nil {
		return err
	}
	all, err := ks.List()
	if err != nil {
		return &exitError{exitProtocol, err.Error()}
	}
	if len(all) == 0 {
		fmt.Fprintf(d.stdout, "No paired devices in %s.\n", ks.Dir())
		return nil
	}
	w := tabwriter.NewWriter(d.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSERVER\tCRED_ID\tCREATED")
	for _, e := range all {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", clean(e.Name), e.Server, e.CredID, e.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

func (d *deviceCmd) forget(args []string) error {
	fs, home := d.flagSet("forget")
	pos, err := d.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "device forget: name the device (its name or credential id; see tandem device list)"}
	}
	ks, err := d.keystore(*home)
	if err != nil {
		return err
	}
	e, err := ks.Forget(pos[0])
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	fmt.Fprintf(d.stdout, "Forgot %q (credential %s at %s). The server keeps the device until an administrator revokes it.\n", e.Name, e.CredID, e.Server)
	return nil
}

// remove revokes a device's credential on its server (a signed request:
// only the device itself can) and then forgets its key. A server that
// already refuses the credential as revoked or unknown counts as done.
func (d *deviceCmd) remove(ctx context.Context, args []string) error {
	fs, home := d.flagSet("remove")
	pos, err := d.parse(fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &usageError{msg: "device remove: name the device (its name or credential id; see tandem device list)"}
	}
	ks, err := d.keystore(*home)
	if err != nil {
		return err
	}
	entry, err := ks.Lookup(pos[0])
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	key, err := ks.Key(entry)
	if err != nil {
		return &exitError{exitProtocol, err.Error()}
	}
	c := &authenticator.Client{HTTP: d.http, Key: key, CredID: entry.CredID, Now: d.now, Server: entry.Server}
	switch _, err := c.Revoke(ctx); authenticator.ProblemCode(err) {
	case "":
		if err != nil {
			return protocolError("remove", err)
		}
		fmt.Fprintf(d.stdout, "Removed %q from %s: the server revoked credential %s.\n", entry.Name, entry.Server, entry.CredID)
	case "device_revoked", "unknown_credential":
		fmt.Fprintf(d.stdout, "%s no longer knows %q as an active device (%s).\n", entry.Server, entry.Name, authenticator.ProblemCode(err))
	default:
		return protocolError("remove", err)
	}
	if _, err := ks.Forget(entry.CredID); err != nil {
		return &exitError{exitProtocol, err.Error()}
	}
	fmt.Fprintf(d.stdout, "Forgot its key.\n")
	return nil
}
