// Package spec validates and normalizes declarative workspace documents: the
// checks that span modules and applications (a web_to_device hand-over must
// name a mobile application, number_prompt needs a hand-over that enables it,
// and so on) live here, next to the per-module config checks of the registry.
package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module"
	"github.com/tandem-id/tandem/rules"
)

// Limits of a workspace document.
const (
	MaxModules           = 32
	MaxDisplayName       = 100
	MaxDescription       = 1000
	MinLinkExpiry        = 60
	MaxLinkExpiry        = 86400
	MaxRedirectURLs      = 20
	MaxWebhookURL        = 2048
	MaxPushTitle         = 100
	MaxPushBody          = 240
	MinLocationRetention = 60
	MaxLocationRetention = 365 * 24 * 3600
	// MaxRequestsPerSecond and MaxBurst bound an application's
	// rate_limit.
	MaxRequestsPerSecond = 1_000_000
	MaxBurst             = 1_000_000
	maxApplications      = 200
	maxWorkflows         = 200
	webToDeviceType      = "web_to_device"
	numberPromptType     = "number_prompt"
	proximityType        = "proximity"
	namePatternString    = `^[a-z0-9][a-z0-9_-]{0,62}$`
)

var namePattern = regexp.MustCompile(namePatternString)

// Validator checks workspace documents against the registered module types
// and the rule language.
type Validator struct {
	Modules *module.Registry
	Rules   *rules.Env
}

// handover is the part of a web_to_device config the cross-checks need.
type handover struct {
	DeviceApplication string `json:"device_application"`
	NumberPrompt      bool   `json:"number_prompt"`
}

// Validate checks doc and returns its normalized form: defaults filled in,
// module configs re-encoded canonically with their defaults, `enabled: true`
// dropped, applications and workflows sorted by name. Two documents that mean
// the same thing normalize to the same value. On failure it returns an
// EINVALID *tandem.Error listing every problem, each with the path of the
// field (e.g. "workflows[1].modules[0].configs.distance_m") and the fix.
func (v *Validator) Validate(doc tandem.WorkspaceDoc) (tandem.WorkspaceDoc, error) {
	var errs []tandem.FieldError
	add := func(path, format string, args ...any) {
		errs = append(errs, tandem.FieldError{Path: path, Message: fmt.Sprintf(format, args...)})
	}
	out := tandem.WorkspaceDoc{Name: doc.Name}
	checkName(add, "name", doc.Name, "workspace")
	if st := doc.Settings; st != nil {
		if r := st.LocationRetentionS; r != 0 && (r < MinLocationRetention || r > MaxLocationRetention) {
			add("settings.location_retention_s", "location_retention_s must be from %d to %d seconds (one year), not %d; leave it out to keep coordinates", MinLocationRetention, MaxLocationRetention, r)
		}
		if *st != (tandem.WorkspaceSettings{}) {
			cp := *st
			out.Settings = &cp
		}
	}

	if len(doc.Applications) > maxApplications {
		add("applications", "a workspace has at most %d applications", maxApplications)
	}
	if len(doc.Workflows) > maxWorkflows {
		add("workflows", "a workspace has at most %d workflows", maxWorkflows)
	}

	// Index workflows first: applications refer to them.
	wfIndex := map[string]int{}
	for i, wf := range doc.Workflows {
		if _, dup := wfIndex[wf.Name]; dup && wf.Name != "" {
			add(fmt.Sprintf("workflows[%d].name", i), "workflow %q is defined twice; workflow names must be unique", wf.Name)
			continue
		}
		wfIndex[wf.Name] = i
	}
	appIndex := map[string]int{}
	for i, app := range doc.Applications {
		if _, dup := appIndex[app.Name]; dup && app.Name != "" {
			add(fmt.Sprintf("applications[%d].name", i), "application %q is defined twice; application names must be unique", app.Name)
			continue
		}
		appIndex[app.Name] = i
	}

	// attached[workflow] = indexes of the applications that run it.
	attached := map[string][]int{}
	for i, app := range doc.Applications {
		p := fmt.Sprintf("applications[%d]", i)
		napp := app
		checkName(add, p+".name", app.Name, "application")
		switch app.VerificationWay {
		case tandem.WayWeb, tandem.WayMobile:
		case "":
			add(p+".verification_way", "verification_way is required: use %q (the user starts from a link) or %q (the application runs on the phone)", tandem.WayWeb, tandem.WayMobile)
		default:
			add(p+".verification_way", "verification_way must be %q or %q, not %q", tandem.WayWeb, tandem.WayMobile, app.VerificationWay)
		}
		if app.Workflow == "" {
			add(p+".workflow", "workflow is required: name the workflow this application runs")
		} else if _, ok := wfIndex[app.Workflow]; !ok {
			add(p+".workflow", "workflow %q does not exist in this workspace; define it under workflows or fix the name", app.Workflow)
		} else {
			attached[app.Workflow] = append(attached[app.Workflow], i)
		}
		switch {
		case app.LinkExpiryS == 0:
			napp.LinkExpiryS = tandem.DefaultLinkExpiry
		case app.LinkExpiryS < MinLinkExpiry || app.LinkExpiryS > MaxLinkExpiry:
			add(p+".link_expiry_s", "link_expiry_s must be between %d and %d seconds, not %d", MinLinkExpiry, MaxLinkExpiry, app.LinkExpiryS)
		}
		if len(app.RedirectURLs) > MaxRedirectURLs {
			add(p+".redirect_urls", "at most %d redirect URLs are allowed", MaxRedirectURLs)
		}
		napp.RedirectURLs = nil
		for j, raw := range app.RedirectURLs {
			if msg := checkRedirectURL(raw); msg != "" {
				add(fmt.Sprintf("%s.redirect_urls[%d]", p, j), "%s", msg)
			} else if slices.Contains(napp.RedirectURLs, raw) {
				add(fmt.Sprintf("%s.redirect_urls[%d]", p, j), "%q is listed twice", raw)
			} else {
				napp.RedirectURLs = append(napp.RedirectURLs, raw)
			}
		}
		if app.WebhookURL != "" {
			if msg := checkWebhookURL(app.WebhookURL); msg != "" {
				add(p+".webhook_url", "%s", msg)
			} else if app.VerificationWay == tandem.WayMobile {
				add(p+".webhook_url", "webhook_url applies only to applications with verification_way %q: a verification belongs to the web application that hands over to the phone, and its webhook goes to that application's webhook_url", tandem.WayWeb)
			}
		}
		if app.CIBA != nil {
			cb := *app.CIBA
			switch cb.DeliveryMode {
			case "":
				cb.DeliveryMode = tandem.CIBAPoll
			case tandem.CIBAPoll, tandem.CIBAPing, tandem.CIBAPush:
			default:
				add(p+".ciba.delivery_mode", "delivery_mode must be %q, %q or %q, not %q", tandem.CIBAPoll, tandem.CIBAPing, tandem.CIBAPush, cb.DeliveryMode)
			}
			switch {
			case cb.DeliveryMode == tandem.CIBAPoll && cb.NotificationEndpoint != "":
				add(p+".ciba.notification_endpoint", "notification_endpoint applies only to the %q and %q delivery modes; remove it or change delivery_mode", tandem.CIBAPing, tandem.CIBAPush)
			case (cb.DeliveryMode == tandem.CIBAPing || cb.DeliveryMode == tandem.CIBAPush) && cb.NotificationEndpoint == "":
				add(p+".ciba.notification_endpoint", "notification_endpoint is required in %q mode: the https URL where Tandem POSTs the notifications", cb.DeliveryMode)
			case cb.NotificationEndpoint != "":
				if msg := checkNotificationEndpoint(cb.NotificationEndpoint); msg != "" {
					add(p+".ciba.notification_endpoint", "%s", msg)
				}
			}
			if app.VerificationWay == tandem.WayMobile {
				add(p+".ciba", "ciba applies only to applications with verification_way %q: CIBA requests start verifications, which a mobile application cannot do", tandem.WayWeb)
			}
			napp.CIBA = &cb
		}
		if app.RateLimit != nil {
			napp.RateLimit = checkRateLimit(add, p+".rate_limit", *app.RateLimit)
		}
		if app.Mobile != nil {
			m := *app.Mobile
			if app.VerificationWay == tandem.WayWeb {
				add(p+".mobile", "mobile applies only to applications with verification_way %q; remove it or change verification_way", tandem.WayMobile)
			}
			switch m.Notification {
			case "":
				m.Notification = tandem.NotifyQR
			case tandem.NotifyQR, tandem.NotifyPush:
			default:
				add(p+".mobile.notification", "notification must be %q or %q, not %q", tandem.NotifyQR, tandem.NotifyPush, m.Notification)
			}
			if n := len([]rune(m.PushTitle)); n > MaxPushTitle {
				add(p+".mobile.push_title", "push_title has %d characters; at most %d are allowed", n, MaxPushTitle)
			}
			if n := len([]rune(m.PushBody)); n > MaxPushBody {
				add(p+".mobile.push_body", "push_body has %d characters; at most %d are allowed", n, MaxPushBody)
			}
			napp.Mobile = &m
		} else if app.VerificationWay == tandem.WayMobile {
			napp.Mobile = &tandem.Mobile{Notification: tandem.NotifyQR}
		}
		if app.Gatepass != "" {
			if _, err := v.Rules.Compile(app.Gatepass); err != nil {
				add(p+".gatepass", "gatepass is not a valid rule: %v", err)
			}
		}
		out.Applications = append(out.Applications, napp)
	}

	// Hand-overs: which mobile applications are reached by a web_to_device,
	// and whether any of those enables the number prompt.
	type hoRef struct {
		workflow string
		path     string
		cfg      handover
	}
	handovers := map[string][]hoRef{} // by device application
	var hoOrder []hoRef               // all hand-overs in document order, for stable errors

	for i, wf := range doc.Workflows {
		p := fmt.Sprintf("workflows[%d]", i)
		checkName(add, p+".name", wf.Name, "workflow")
		nwf := tandem.Workflow{Name: wf.Name, Modules: []tandem.ModuleInstance{}}
		if len(wf.Modules) == 0 {
			add(p+".modules", "a workflow needs at least one module")
		}
		if len(wf.Modules) > MaxModules {
			add(p+".modules", "a workflow has at most %d modules, not %d", MaxModules, len(wf.Modules))
		}
		var sides []string // the verification ways of the applications that run wf
		for _, ai := range attached[wf.Name] {
			sides = append(sides, doc.Applications[ai].VerificationWay)
		}
		wtdCount := 0
		for j, m := range wf.Modules {
			mp := fmt.Sprintf("%s.modules[%d]", p, j)
			nm := m
			if m.Enabled != nil && *m.Enabled {
				nm.Enabled = nil
			}
			if strings.TrimSpace(m.DisplayName) == "" {
				add(mp+".display_name", "display_name is required: give the module a name people will see")
			} else if n := len([]rune(m.DisplayName)); n > MaxDisplayName {
				add(mp+".display_name", "display_name has %d characters; at most %d are allowed", n, MaxDisplayName)
			}
			if n := len([]rune(m.Description)); n > MaxDescription {
				add(mp+".description", "description has %d characters; at most %d are allowed", n, MaxDescription)
			}
			if m.Rule != "" {
				if _, err := v.Rules.Compile(m.Rule); err != nil {
					add(mp+".rule", "rule is not valid: %v", err)
				}
			}
			info, ok := v.Modules.Lookup(m.Type)
			if !ok {
				if m.Type == "" {
					add(mp+".type", "type is required; known module types: %s", strings.Join(v.Modules.Types(), ", "))
				} else {
					add(mp+".type", "unknown module type %q; known module types: %s", m.Type, strings.Join(v.Modules.Types(), ", "))
				}
				nwf.Modules = append(nwf.Modules, nm)
				continue
			}
			cfg, ferrs := v.Modules.DecodeConfig(m.Type, m.Configs)
			for _, fe := range ferrs {
				path := mp + ".configs"
				if fe.Path != "" {
					path += "." + fe.Path
				}
				errs = append(errs, tandem.FieldError{Path: path, Message: fe.Message})
			}
			if len(ferrs) == 0 {
				canon, err := json.Marshal(cfg)
				if err != nil {
					return tandem.WorkspaceDoc{}, fmt.Errorf("encode %s config: %w", m.Type, err)
				}
				if string(canon) == "{}" {
					canon = nil
				}
				nm.Configs = canon
			}
			for _, way := range sides {
				if way == tandem.WayWeb && info.Side == module.SideDevice {
					add(mp+".type", "%s runs on the phone and cannot be in workflow %q, which a web application runs; move it to the workflow of the mobile application that a web_to_device hands over to", m.Type, wf.Name)
					break
				}
				if way == tandem.WayMobile && info.Side == module.SideWeb {
					add(mp+".type", "%s runs in the browser and cannot be in workflow %q, which a mobile application runs; move it to the web application's workflow", m.Type, wf.Name)
					break
				}
			}
			if m.Type == webToDeviceType {
				wtdCount++
				if wtdCount > 1 {
					add(mp+".type", "a workflow may hand over to a device only once; remove this second web_to_device")
				}
				if len(ferrs) == 0 {
					var h handover
					_ = json.Unmarshal(nm.Configs, &h)
					handovers[h.DeviceApplication] = append(handovers[h.DeviceApplication], hoRef{wf.Name, mp, h})
					hoOrder = append(hoOrder, hoRef{wf.Name, mp, h})
				}
			}
			nwf.Modules = append(nwf.Modules, nm)
		}
		out.Workflows = append(out.Workflows, nwf)
	}

	// Cross-checks of hand-overs, in document order (not map order) so that
	// the same document always gets the same errors.
	for _, ref := range hoOrder {
		devApp := ref.cfg.DeviceApplication
		cp := ref.path + ".configs.device_application"
		ai, ok := appIndex[devApp]
		if !ok {
			add(cp, "application %q does not exist in this workspace; name a mobile application", devApp)
			continue
		}
		app := doc.Applications[ai]
		if app.VerificationWay != tandem.WayMobile {
			add(cp, "application %q has verification_way %q; a web_to_device hands over to an application with verification_way %q", devApp, app.VerificationWay, tandem.WayMobile)
			continue
		}
		wi, ok := wfIndex[app.Workflow]
		if !ok {
			continue // reported on the application
		}
		devWF := doc.Workflows[wi]
		if hasModule(devWF, webToDeviceType) {
			add(cp, "application %q runs workflow %q, which itself contains web_to_device; the phone's workflow must not hand over again", devApp, devWF.Name)
		}
		if ref.cfg.NumberPrompt && !hasModule(devWF, numberPromptType) {
			add(ref.path+".configs.number_prompt", "number_prompt is true but workflow %q of application %q has no number_prompt module; add one to that workflow or set number_prompt to false", devWF.Name, devApp)
		}
	}
	for i, wf := range doc.Workflows {
		for _, ai := range attached[wf.Name] {
			app := doc.Applications[ai]
			if app.VerificationWay != tandem.WayMobile {
				continue
			}
			for j, m := range wf.Modules {
				mp := fmt.Sprintf("workflows[%d].modules[%d]", i, j)
				switch m.Type {
				case numberPromptType:
					enabled := false
					var from []string
					for _, ref := range handovers[app.Name] {
						from = append(from, ref.workflow)
						enabled = enabled || ref.cfg.NumberPrompt
					}
					switch {
					case enabled:
					case len(from) == 0:
						add(mp+".type", "number_prompt runs only after a web_to_device hand-over with number_prompt: true, and no web_to_device names application %q; add one with configs {\"device_application\": %q, \"number_prompt\": true}", app.Name, app.Name)
					default:
						add(mp+".type", "number_prompt runs only after a web_to_device hand-over with number_prompt: true; set configs.number_prompt to true on the web_to_device of workflow %q that names application %q", from[0], app.Name)
					}
				case proximityType:
					if app.Mobile == nil || !app.Mobile.Proximity {
						add(mp+".type", "proximity runs only for a mobile application with proximity enabled; set applications[%d].mobile.proximity to true on %q, or remove this module", ai, app.Name)
					}
				}
			}
		}
	}

	if err := tandem.Invalid("The workspace document is not valid.", errs); err != nil {
		return tandem.WorkspaceDoc{}, err
	}
	slices.SortFunc(out.Applications, func(a, b tandem.Application) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Workflows, func(a, b tandem.Workflow) int { return strings.Compare(a.Name, b.Name) })
	if out.Applications == nil {
		out.Applications = []tandem.Application{}
	}
	if out.Workflows == nil {
		out.Workflows = []tandem.Workflow{}
	}
	return out, nil
}

func hasModule(wf tandem.Workflow, typ string) bool {
	return slices.ContainsFunc(wf.Modules, func(m tandem.ModuleInstance) bool { return m.Type == typ })
}

// checkRateLimit checks an application's rate_limit and returns it with
// its burst defaulted to three seconds' worth of requests.
func checkRateLimit(add func(path, format string, args ...any), path string, rl tandem.RateLimit) *tandem.RateLimit {
	switch rps := rl.RequestsPerSecond; {
	case rps == 0:
		add(path+".requests_per_second", "requests_per_second is required: the sustained number of requests per second the application may make (fractions allowed, e.g. 0.5)")
	case rps < 0 || rps > MaxRequestsPerSecond || math.IsNaN(rps):
		add(path+".requests_per_second", "requests_per_second must be more than 0 and at most %d, not %v", MaxRequestsPerSecond, rps)
	}
	switch {
	case rl.Burst == 0 && rl.RequestsPerSecond > 0:
		rl.Burst = int(min(math.Ceil(3*rl.RequestsPerSecond), MaxBurst))
	case rl.Burst < 0 || rl.Burst > MaxBurst:
		add(path+".burst", "burst must be from 1 to %d requests, not %d", MaxBurst, rl.Burst)
	}
	return &rl
}

func checkName(add func(path, format string, args ...any), path, name, what string) {
	switch {
	case name == "":
		add(path, "name is required: give the %s a name of lower-case letters, digits, '-' and '_'", what)
	case !namePattern.MatchString(name):
		add(path, "%s name %q is not allowed: use 1 to 63 lower-case letters, digits, '-' and '_', starting with a letter or digit", what, name)
	}
}

// checkRedirectURL returns why raw cannot be a redirect URL, or "".
func checkRedirectURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute http(s) URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q has a fragment; redirect URLs must not have one", raw)
	}
	if u.User != nil {
		return fmt.Sprintf("%q carries a user name or password; remove it", raw)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Sprintf("%q uses http; use https (http is allowed only for localhost and loopback addresses)", raw)
	}
	return ""
}

// checkWebhookURL returns why raw cannot be a webhook URL, or "". It accepts
// absolute http and https URLs without user information or fragment. Where
// a webhook may actually go is decided when it is delivered, not here: the
// server sends only to https URLs whose host resolves to public addresses,
// unless it runs with -allow-insecure-webhooks (http and any address) or
// lists the host in -webhook-allow-hosts; a refused delivery is recorded
// and audited. The document cannot know those flags, so http is accepted.
func checkWebhookURL(raw string) string {
	if len(raw) > MaxWebhookURL {
		return fmt.Sprintf("webhook_url has %d characters; at most %d are allowed", len(raw), MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute http(s) URL; use e.g. https://app.example.com/tandem/webhook", raw)
	}
	if u.User != nil {
		return fmt.Sprintf("%q carries a user name or password; remove it (webhooks are authenticated by their signature)", u.Redacted())
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q has a fragment; webhook URLs must not have one", raw)
	}
	return ""
}

// checkNotificationEndpoint returns why raw cannot be a CIBA client
// notification endpoint, or "". The specification requires https; http is
// accepted for localhost and loopback addresses only, as for redirect URLs.
// Where a notification may actually go is decided when it is sent, by the
// webhook delivery policy (the guard against server-side request forgery).
func checkNotificationEndpoint(raw string) string {
	if len(raw) > MaxWebhookURL {
		return fmt.Sprintf("notification_endpoint has %d characters; at most %d are allowed", len(raw), MaxWebhookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Sprintf("%q is not an absolute https URL; use e.g. https://app.example.com/ciba/notify", raw)
	}
	if u.User != nil {
		return fmt.Sprintf("%q carries a user name or password; remove it (notifications carry the client_notification_token)", u.Redacted())
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q has a fragment; notification endpoints must not have one", raw)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return fmt.Sprintf("%q uses http; use https (http is allowed only for localhost and loopback addresses)", raw)
	}
	return ""
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	// An IP literal only: a name such as 127.evil.example is not loopback.
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

// Apply validates doc and stores it in st, as one step for both the admin
// API and `tandem apply`. See tandem.WorkspaceStore.ApplyWorkspace for
// ifVersion.
func (v *Validator) Apply(ctx context.Context, st tandem.WorkspaceStore, doc tandem.WorkspaceDoc, ifVersion int64) (*tandem.ApplyResult, error) {
	norm, err := v.Validate(doc)
	if err != nil {
		return nil, err
	}
	return st.ApplyWorkspace(ctx, norm, ifVersion)
}

// Update loads workspace name, lets edit change its document, and applies
// the result. A concurrent change between load and apply is retried a few
// times before ECONFLICT is returned. edit's errors are returned as they are.
func (v *Validator) Update(ctx context.Context, st tandem.WorkspaceStore, name string, edit func(doc *tandem.WorkspaceDoc) error) (*tandem.ApplyResult, error) {
	for attempt := 0; ; attempt++ {
		ws, err := st.GetWorkspace(ctx, name)
		if err != nil {
			return nil, err
		}
		doc := ws.Doc
		if err := edit(&doc); err != nil {
			return nil, err
		}
		res, err := v.Apply(ctx, st, doc, ws.Version)
		if tandem.ErrorCode(err) == tandem.ECONFLICT && attempt < 3 {
			continue
		}
		return res, err
	}
}
