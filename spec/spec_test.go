package spec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/strictjson"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func newValidator(t *testing.T) *spec.Validator {
	t.Helper()
	env, err := rules.NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	return &spec.Validator{Modules: all.Registry(), Rules: env}
}

// example returns a fresh copy of examples/workspace.json. Its parts are, in
// document order:
//
//	applications[0] web-login   (web, workflow login)
//	applications[1] acme-mobile (mobile, workflow phone-check, proximity on)
//	workflows[0] login:       [0] verify_aadhaar, [1] web_to_device → acme-mobile, number_prompt
//	workflows[1] phone-check: [0] number_prompt, [1] proximity 200 m, [2] verify_pan with a rule
func example(t *testing.T) tandem.WorkspaceDoc {
	t.Helper()
	return decodeDoc(t, examples.Workspace)
}

func decodeDoc(t *testing.T, raw []byte) tandem.WorkspaceDoc {
	t.Helper()
	var doc tandem.WorkspaceDoc
	if errs := strictjson.Decode(raw, &doc, ""); len(errs) > 0 {
		t.Fatalf("decode document: %v", errs)
	}
	return doc
}

func mod(typ, name, configs string) tandem.ModuleInstance {
	m := tandem.ModuleInstance{Type: typ, DisplayName: name}
	if configs != "" {
		m.Configs = json.RawMessage(configs)
	}
	return m
}

// Paths into the example document.
const (
	webApp      = "applications[0]"
	mobileApp   = "applications[1]"
	handover    = "workflows[0].modules[1]"
	numPrompt   = "workflows[1].modules[0]"
	proximity   = "workflows[1].modules[1]"
	pan         = "workflows[1].modules[2]"
	loginWF     = "workflows[0]"
	phoneWF     = "workflows[1]"
	handoverCfg = `{"device_application": "acme-mobile", "number_prompt": true}`
)

// problem is one expected field error: its exact path and a part of its
// message (the part that names the fix).
type problem struct {
	path, msg string
}

func TestValidateRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(d *tandem.WorkspaceDoc)
		want []problem
	}{
		// proximity configs
		{
			name: "ProximityDistanceMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[1].Configs = nil },
			want: []problem{{proximity + ".configs.distance_m", "distance_m is required: set the proximity range in metres, 1 to 500"}},
		},
		{
			name: "ProximityDistanceEmptyConfigs",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[1].Configs = json.RawMessage(`{}`) },
			want: []problem{{proximity + ".configs.distance_m", "distance_m is required"}},
		},
		{
			name: "ProximityDistanceZero",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 0}`) },
			want: []problem{{proximity + ".configs.distance_m", "distance_m must be at least 1 metre, not 0: set the proximity range in metres, 1 to 500"}},
		},
		{
			name: "ProximityDistance501",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 501}`)
			},
			want: []problem{{proximity + ".configs.distance_m", "distance_m must be at most 500 metres, the maximum range, not 501"}},
		},
		{
			name: "ProximityDistanceNotANumber",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": "200"}`)
			},
			want: []problem{{proximity + ".configs.distance_m", "must be a number, not a string"}},
		},
		{
			name: "ProximityUnknownConfigField",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 200, "distanse": 5}`)
			},
			want: []problem{{proximity + ".configs.distanse", `unknown field "distanse"`}},
		},
		// device_register configs
		{
			name: "DeviceRegisterMaxDevices0",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules = append(d.Workflows[1].Modules, mod("device_register", "Register", `{"max_devices": 0}`))
			},
			want: []problem{{"workflows[1].modules[3].configs.max_devices", "max_devices must be from 1 to 10, not 0: set the most active devices one user may have"}},
		},
		{
			name: "DeviceRegisterMaxDevices11",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules = append(d.Workflows[1].Modules, mod("device_register", "Register", `{"max_devices": 11}`))
			},
			want: []problem{{"workflows[1].modules[3].configs.max_devices", "max_devices must be from 1 to 10, not 11"}},
		},
		// web_to_device hand-overs
		{
			name: "HandoverToMissingApplication",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[0].Modules[1].Configs = json.RawMessage(`{"device_application": "ghost", "number_prompt": true}`)
			},
			want: []problem{
				{handover + ".configs.device_application", `application "ghost" does not exist in this workspace; name a mobile application`},
				{numPrompt + ".type", `no web_to_device names application "acme-mobile"`},
			},
		},
		{
			name: "HandoverToWebApplication",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[0].Modules[1].Configs = json.RawMessage(`{"device_application": "web-login", "number_prompt": true}`)
			},
			want: []problem{
				{handover + ".configs.device_application", `application "web-login" has verification_way "web"; a web_to_device hands over to an application with verification_way "mobile"`},
				{numPrompt + ".type", `no web_to_device names application "acme-mobile"`},
			},
		},
		{
			name: "HandoverToMobileAppThatHandsOverAgain",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules = append(d.Workflows[1].Modules, mod("web_to_device", "Again", `{"device_application": "acme-mobile"}`))
			},
			want: []problem{
				{"workflows[1].modules[3].type", `web_to_device runs in the browser and cannot be in workflow "phone-check", which a mobile application runs`},
				{handover + ".configs.device_application", `application "acme-mobile" runs workflow "phone-check", which itself contains web_to_device; the phone's workflow must not hand over again`},
				{"workflows[1].modules[3].configs.device_application", "the phone's workflow must not hand over again"},
			},
		},
		{
			name: "HandoverDeviceApplicationMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[1].Configs = nil },
			want: []problem{
				{handover + ".configs.device_application", "device_application is required: name the mobile application"},
				{numPrompt + ".type", `no web_to_device names application "acme-mobile"`},
			},
		},
		// number_prompt needs a hand-over that enables it
		{
			name: "NumberPromptWithoutAnyHandover",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules = d.Workflows[0].Modules[:1] },
			want: []problem{{numPrompt + ".type",
				`number_prompt runs only after a web_to_device hand-over with number_prompt: true, and no web_to_device names application "acme-mobile"; add one with configs {"device_application": "acme-mobile", "number_prompt": true}`}},
		},
		{
			name: "NumberPromptHandoverWithoutNumberPrompt",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[0].Modules[1].Configs = json.RawMessage(`{"device_application": "acme-mobile"}`)
			},
			want: []problem{{numPrompt + ".type",
				`set configs.number_prompt to true on the web_to_device of workflow "login" that names application "acme-mobile"`}},
		},
		{
			name: "HandoverNumberPromptWithoutModule",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules = d.Workflows[1].Modules[1:] },
			want: []problem{{handover + ".configs.number_prompt",
				`number_prompt is true but workflow "phone-check" of application "acme-mobile" has no number_prompt module; add one to that workflow or set number_prompt to false`}},
		},
		// proximity needs mobile.proximity
		{
			name: "ProximityWithMobileProximityOff",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].Mobile.Proximity = false },
			want: []problem{{proximity + ".type",
				`proximity runs only for a mobile application with proximity enabled; set applications[1].mobile.proximity to true on "acme-mobile", or remove this module`}},
		},
		{
			name: "ProximityWithoutMobileBlock",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].Mobile = nil },
			want: []problem{{proximity + ".type", "set applications[1].mobile.proximity to true"}},
		},
		// rules
		{
			name: "RuleNotCEL",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[2].Rule = "request.metadata.kyc ==" },
			want: []problem{{pan + ".rule", "rule is not valid: line 1, column "}},
		},
		{
			name: "RuleOnSecondLine",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[2].Rule = "true &&\n  nosuchvar" },
			want: []problem{{pan + ".rule", "rule is not valid: line 2, column 3: "}},
		},
		{
			name: "RuleNotBoolean",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[2].Rule = "1 + 2" },
			want: []problem{{pan + ".rule", "rule is not valid: rule must evaluate to a boolean, not int"}},
		},
		{
			name: "GatepassInvalid",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Gatepass = "request.user_id ==" },
			want: []problem{{webApp + ".gatepass", "gatepass is not a valid rule: line 1, column "}},
		},
		{
			name: "GatepassNotBoolean",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Gatepass = "request.user_id" },
			want: []problem{{webApp + ".gatepass", "gatepass is not a valid rule: rule must evaluate to a boolean, not string"}},
		},
		// modules
		{
			name: "UnknownModuleType",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].Type = "verify_passport" },
			want: []problem{{loginWF + ".modules[0].type", `unknown module type "verify_passport"; known module types: device_register, device_verify, number_prompt, proximity, verify_aadhaar, verify_pan, web_to_device`}},
		},
		{
			name: "ModuleTypeMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].Type = "" },
			want: []problem{{loginWF + ".modules[0].type", "type is required; known module types: "}},
		},
		{
			name: "DisplayNameMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].DisplayName = "" },
			want: []problem{{loginWF + ".modules[0].display_name", "display_name is required: give the module a name people will see"}},
		},
		{
			name: "DisplayNameBlank",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].DisplayName = "   " },
			want: []problem{{loginWF + ".modules[0].display_name", "display_name is required"}},
		},
		{
			name: "DisplayNameTooLong",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].DisplayName = strings.Repeat("é", 101) },
			want: []problem{{loginWF + ".modules[0].display_name", "display_name has 101 characters; at most 100 are allowed"}},
		},
		{
			name: "ConfigsOnModuleWithout",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows[0].Modules[0].Configs = json.RawMessage(`{"strict": true}`) },
			want: []problem{{loginWF + ".modules[0].configs.strict", `unknown field "strict"`}},
		},
		{
			name: "DeviceModuleInWebWorkflow",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[0].Modules = append(d.Workflows[0].Modules, mod("device_verify", "Known phone", ""))
			},
			want: []problem{{"workflows[0].modules[2].type", `device_verify runs on the phone and cannot be in workflow "login", which a web application runs; move it to the workflow of the mobile application`}},
		},
		{
			name: "WebModuleInMobileWorkflow",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[1].Modules = append(d.Workflows[1].Modules, mod("verify_aadhaar", "Aadhaar", ""))
			},
			want: []problem{{"workflows[1].modules[3].type", `verify_aadhaar runs in the browser and cannot be in workflow "phone-check", which a mobile application runs; move it to the web application's workflow`}},
		},
		{
			name: "SecondWebToDevice",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows[0].Modules = append(d.Workflows[0].Modules, mod("web_to_device", "Again", handoverCfg))
			},
			want: []problem{{"workflows[0].modules[2].type", "a workflow may hand over to a device only once; remove this second web_to_device"}},
		},
		{
			name: "EmptyModules",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Workflows = append(d.Workflows, tandem.Workflow{Name: "empty", Modules: []tandem.ModuleInstance{}})
			},
			want: []problem{{"workflows[2].modules", "a workflow needs at least one module"}},
		},
		{
			name: "TooManyModules",
			edit: func(d *tandem.WorkspaceDoc) {
				for range spec.MaxModules - 1 {
					d.Workflows[0].Modules = append(d.Workflows[0].Modules, mod("verify_pan", "PAN", ""))
				}
			},
			want: []problem{{"workflows[0].modules", "a workflow has at most 32 modules, not 33"}},
		},
		// names
		{
			name: "WorkspaceNameMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Name = "" },
			want: []problem{{"name", "name is required: give the workspace a name of lower-case letters, digits, '-' and '_'"}},
		},
		{
			name: "WorkspaceNameUpperCase",
			edit: func(d *tandem.WorkspaceDoc) { d.Name = "Acme" },
			want: []problem{{"name", `workspace name "Acme" is not allowed: use 1 to 63 lower-case letters, digits, '-' and '_'`}},
		},
		{
			name: "ApplicationNameWithSpace",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Name = "web login" },
			want: []problem{{webApp + ".name", `application name "web login" is not allowed`}},
		},
		{
			name: "ApplicationNameStartsWithDash",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Name = "-web" },
			want: []problem{{webApp + ".name", `application name "-web" is not allowed`}},
		},
		{
			name: "ApplicationNameMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Name = "" },
			want: []problem{{webApp + ".name", "name is required: give the application a name"}},
		},
		{
			name: "WorkflowNameTooLong",
			edit: func(d *tandem.WorkspaceDoc) {
				long := strings.Repeat("w", 64)
				d.Workflows[0].Name = long
				d.Applications[0].Workflow = long
			},
			want: []problem{{loginWF + ".name", "is not allowed: use 1 to 63 lower-case letters"}},
		},
		{
			name: "DuplicateApplication",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications = append(d.Applications, d.Applications[0]) },
			want: []problem{{"applications[2].name", `application "web-login" is defined twice; application names must be unique`}},
		},
		{
			name: "DuplicateWorkflow",
			edit: func(d *tandem.WorkspaceDoc) { d.Workflows = append(d.Workflows, d.Workflows[0]) },
			want: []problem{{"workflows[2].name", `workflow "login" is defined twice; workflow names must be unique`}},
		},
		// applications
		{
			name: "VerificationWayMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].VerificationWay = "" },
			want: []problem{{webApp + ".verification_way", `verification_way is required: use "web" (the user starts from a link) or "mobile"`}},
		},
		{
			name: "VerificationWayWrong",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].VerificationWay = "sms" },
			want: []problem{{webApp + ".verification_way", `verification_way must be "web" or "mobile", not "sms"`}},
		},
		{
			name: "WorkflowMissing",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Workflow = "" },
			want: []problem{{webApp + ".workflow", "workflow is required: name the workflow this application runs"}},
		},
		{
			name: "WorkflowUnknown",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Workflow = "logon" },
			want: []problem{{webApp + ".workflow", `workflow "logon" does not exist in this workspace; define it under workflows or fix the name`}},
		},
		{
			name: "LinkExpiryTooShort",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].LinkExpiryS = 59 },
			want: []problem{{webApp + ".link_expiry_s", "link_expiry_s must be between 60 and 86400 seconds, not 59"}},
		},
		{
			name: "LinkExpiryTooLong",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].LinkExpiryS = 86401 },
			want: []problem{{webApp + ".link_expiry_s", "link_expiry_s must be between 60 and 86400 seconds, not 86401"}},
		},
		{
			name: "LinkExpiryNegative",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].LinkExpiryS = -1 },
			want: []problem{{webApp + ".link_expiry_s", "link_expiry_s must be between 60 and 86400 seconds, not -1"}},
		},
		{
			name: "RedirectURLHTTP",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].RedirectURLs = []string{"http://example.com/done"} },
			want: []problem{{webApp + ".redirect_urls[0]", `"http://example.com/done" uses http; use https (http is allowed only for localhost and loopback addresses)`}},
		},
		{
			name: "RedirectURLHTTPHostLooksLoopback",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].RedirectURLs = []string{"http://127.evil.example/done"}
			},
			want: []problem{{webApp + ".redirect_urls[0]", "uses http; use https"}},
		},
		{
			name: "RedirectURLFragment",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].RedirectURLs = []string{"https://example.com/done#top"}
			},
			want: []problem{{webApp + ".redirect_urls[0]", `"https://example.com/done#top" has a fragment; redirect URLs must not have one`}},
		},
		{
			name: "RedirectURLEmptyFragment",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].RedirectURLs = []string{"https://example.com/done#"} },
			want: []problem{{webApp + ".redirect_urls[0]", "has a fragment"}},
		},
		{
			name: "RedirectURLRelative",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].RedirectURLs = []string{"/done"} },
			want: []problem{{webApp + ".redirect_urls[0]", `"/done" is not an absolute http(s) URL`}},
		},
		{
			name: "RedirectURLUserInfo",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].RedirectURLs = []string{"https://u:p@example.com/"} },
			want: []problem{{webApp + ".redirect_urls[0]", "carries a user name or password; remove it"}},
		},
		{
			name: "RedirectURLTwice",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].RedirectURLs = []string{"https://example.com/", "https://example.com/"}
			},
			want: []problem{{webApp + ".redirect_urls[1]", `"https://example.com/" is listed twice`}},
		},
		{
			name: "WebhookURLRelative",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "/hooks/tandem" },
			want: []problem{{webApp + ".webhook_url", `"/hooks/tandem" is not an absolute http(s) URL`}},
		},
		{
			name: "WebhookURLOtherScheme",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "ftp://hooks.example/x" },
			want: []problem{{webApp + ".webhook_url", "is not an absolute http(s) URL"}},
		},
		{
			name: "WebhookURLUserInfo",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "https://user:pw@hooks.example/x" },
			want: []problem{{webApp + ".webhook_url", `"https://user:xxxxx@hooks.example/x" carries a user name or password; remove it`}},
		},
		{
			name: "WebhookURLFragment",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "https://hooks.example/x#frag" },
			want: []problem{{webApp + ".webhook_url", "has a fragment; webhook URLs must not have one"}},
		},
		{
			name: "WebhookURLTooLong",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].WebhookURL = "https://hooks.example/" + strings.Repeat("a", spec.MaxWebhookURL)
			},
			want: []problem{{webApp + ".webhook_url", "at most 2048 are allowed"}},
		},
		{
			name: "WebhookURLOnMobileApplication",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].WebhookURL = "https://hooks.example/x" },
			want: []problem{{mobileApp + ".webhook_url", `webhook_url applies only to applications with verification_way "web"`}},
		},
		// rate_limit
		{
			name: "RateLimitWithoutRate",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].RateLimit = &tandem.RateLimit{Burst: 10} },
			want: []problem{{webApp + ".rate_limit.requests_per_second", "requests_per_second is required"}},
		},
		{
			name: "RateLimitNegative",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].RateLimit = &tandem.RateLimit{RequestsPerSecond: -1, Burst: -2}
			},
			want: []problem{
				{webApp + ".rate_limit.requests_per_second", "requests_per_second must be more than 0 and at most 1000000, not -1"},
				{webApp + ".rate_limit.burst", "burst must be from 1 to 1000000 requests, not -2"},
			},
		},
		{
			name: "RateLimitTooHigh",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].RateLimit = &tandem.RateLimit{RequestsPerSecond: 2e6, Burst: 2_000_000}
			},
			want: []problem{
				{webApp + ".rate_limit.requests_per_second", "at most 1000000, not 2e+06"},
				{webApp + ".rate_limit.burst", "burst must be from 1 to 1000000 requests, not 2000000"},
			},
		},
		{
			name: "CIBAModeUnknown",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "fax"} },
			want: []problem{{webApp + ".ciba.delivery_mode", `delivery_mode must be "poll", "ping" or "push", not "fax"`}},
		},
		{
			name: "CIBAPingWithoutEndpoint",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "ping"} },
			want: []problem{{webApp + ".ciba.notification_endpoint", `notification_endpoint is required in "ping" mode`}},
		},
		{
			name: "CIBAPollWithEndpoint",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{NotificationEndpoint: "https://client.example/cb"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", `notification_endpoint applies only to the "ping" and "push" delivery modes`}},
		},
		{
			name: "CIBAEndpointHTTP",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "push", NotificationEndpoint: "http://client.example/cb"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", `"http://client.example/cb" uses http; use https (http is allowed only for localhost and loopback addresses)`}},
		},
		{
			name: "CIBAEndpointLoopbackLookalike",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "push", NotificationEndpoint: "http://127.evil.example/cb"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", "uses http; use https"}},
		},
		{
			name: "CIBAEndpointRelative",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "ping", NotificationEndpoint: "/cb"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", `"/cb" is not an absolute https URL`}},
		},
		{
			name: "CIBAEndpointUserInfo",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "ping", NotificationEndpoint: "https://u:p@client.example/cb"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", "carries a user name or password"}},
		},
		{
			name: "CIBAEndpointFragment",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "ping", NotificationEndpoint: "https://client.example/cb#x"}
			},
			want: []problem{{webApp + ".ciba.notification_endpoint", "has a fragment"}},
		},
		{
			name: "CIBAOnMobileApplication",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].CIBA = &tandem.CIBASettings{} },
			want: []problem{{mobileApp + ".ciba", `ciba applies only to applications with verification_way "web"`}},
		},
		{
			name: "MobileBlockOnWebApplication",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[0].Mobile = &tandem.Mobile{Notification: "qr"} },
			want: []problem{{webApp + ".mobile", `mobile applies only to applications with verification_way "mobile"; remove it or change verification_way`}},
		},
		{
			name: "MobileNotificationWrong",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].Mobile.Notification = "sms" },
			want: []problem{{mobileApp + ".mobile.notification", `notification must be "qr" or "push", not "sms"`}},
		},
		{
			name: "MobilePushTitleTooLong",
			edit: func(d *tandem.WorkspaceDoc) { d.Applications[1].Mobile.PushTitle = strings.Repeat("t", 101) },
			want: []problem{{mobileApp + ".mobile.push_title", "push_title has 101 characters; at most 100 are allowed"}},
		},
		{
			name: "EveryProblemAtOnce",
			edit: func(d *tandem.WorkspaceDoc) {
				d.Name = "ACME"
				d.Applications[0].LinkExpiryS = 1
				d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 0}`)
			},
			want: []problem{
				{"name", "is not allowed"},
				{webApp + ".link_expiry_s", "between 60 and 86400"},
				{proximity + ".configs.distance_m", "at least 1 metre"},
			},
		},
	}
	v := newValidator(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := example(t)
			tc.edit(&doc)
			got, err := v.Validate(doc)
			if err == nil {
				t.Fatalf("Validate accepted the document: %+v", got)
			}
			if code := tandem.ErrorCode(err); code != tandem.EINVALID {
				t.Fatalf("error code = %q, want %q (err: %v)", code, tandem.EINVALID, err)
			}
			if msg := tandem.ErrorMessage(err); msg != "The workspace document is not valid." {
				t.Errorf("message = %q", msg)
			}
			checkProblems(t, tandem.ErrorFields(err), tc.want)
		})
	}
}

// checkProblems compares field errors with the expected ones, in order: the
// paths exactly, the messages by substring.
func checkProblems(t *testing.T, got []tandem.FieldError, want []problem) {
	t.Helper()
	var gotPaths, wantPaths []string
	for _, f := range got {
		gotPaths = append(gotPaths, f.Path)
	}
	for _, p := range want {
		wantPaths = append(wantPaths, p.path)
	}
	if diff := cmp.Diff(wantPaths, gotPaths); diff != "" {
		t.Fatalf("error paths (-want +got):\n%s\nerrors: %v", diff, got)
	}
	for i, p := range want {
		if !strings.Contains(got[i].Message, p.msg) {
			t.Errorf("%s: message\n  %q\ndoes not contain\n  %q", p.path, got[i].Message, p.msg)
		}
	}
}

// TestValidateErrorOrderIsStable checks that problems found by the
// cross-checks of several hand-overs come in document order, so that the
// same document always gets the same message.
func TestValidateErrorOrderIsStable(t *testing.T) {
	v := newValidator(t)
	doc := example(t)
	for _, name := range []string{"zeta", "alpha", "mid", "beta", "omega", "gamma"} {
		doc.Workflows = append(doc.Workflows, tandem.Workflow{Name: "wf-" + name, Modules: []tandem.ModuleInstance{
			mod("web_to_device", "Phone", `{"device_application": "missing-`+name+`"}`),
		}})
	}
	var first []tandem.FieldError
	for i := range 20 {
		_, err := v.Validate(doc)
		got := tandem.ErrorFields(err)
		if i == 0 {
			first = got
			var want []problem
			for j := range 6 {
				want = append(want, problem{fmt.Sprintf("workflows[%d].modules[0].configs.device_application", 2+j), "does not exist"})
			}
			checkProblems(t, got, want)
			continue
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Fatalf("run %d: errors differ from the first run (-first +got):\n%s", i, diff)
		}
	}
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name string
		edit func(d *tandem.WorkspaceDoc)
	}{
		{"Example", func(d *tandem.WorkspaceDoc) {}},
		{"ProximityDistance1", func(d *tandem.WorkspaceDoc) { d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 1}`) }},
		{"ProximityDistance500", func(d *tandem.WorkspaceDoc) {
			d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 500}`)
		}},
		{"DeviceRegisterMaxDevices1And10", func(d *tandem.WorkspaceDoc) {
			d.Workflows[1].Modules = append(d.Workflows[1].Modules,
				mod("device_register", "One", `{"max_devices": 1}`), mod("device_register", "Ten", `{"max_devices": 10}`))
		}},
		{"LinkExpiryBounds", func(d *tandem.WorkspaceDoc) {
			d.Applications[0].LinkExpiryS = 60
			d.Applications[1].LinkExpiryS = 86400
		}},
		{"RedirectURLs", func(d *tandem.WorkspaceDoc) {
			d.Applications[0].RedirectURLs = []string{
				"https://bank.example/done?x=1", "http://localhost:3000/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb",
			}
		}},
		{"WebhookURLHTTPS", func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "https://hooks.example/tandem?tenant=1" }},
		// Where a webhook may go is decided at delivery time, with the
		// server's flags: the document accepts http and any host.
		{"WebhookURLHTTP", func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "http://hooks.internal:8080/tandem" }},
		{"WebhookURLPrivateAddress", func(d *tandem.WorkspaceDoc) { d.Applications[0].WebhookURL = "https://10.0.0.5/tandem" }},
		{"CIBAPoll", func(d *tandem.WorkspaceDoc) { d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "poll"} }},
		{"CIBAPushHTTPS", func(d *tandem.WorkspaceDoc) {
			d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "push", NotificationEndpoint: "https://client.example/ciba?tenant=1"}
		}},
		{"CIBAPingLoopbackHTTP", func(d *tandem.WorkspaceDoc) {
			d.Applications[0].CIBA = &tandem.CIBASettings{DeliveryMode: "ping", NotificationEndpoint: "http://127.0.0.1:9000/cb"}
		}},
		{"NoMobileBlockOnMobileApp", func(d *tandem.WorkspaceDoc) {
			d.Applications[1].Mobile = nil
			d.Workflows[1].Modules = slicesDelete(d.Workflows[1].Modules, 1)
		}},
		{"PushNotification", func(d *tandem.WorkspaceDoc) {
			d.Applications[1].Mobile = &tandem.Mobile{Notification: "push", Proximity: true, PushTitle: "Acme", PushBody: "Confirm it is you"}
		}},
		{"VerifyPanOnBothSides", func(d *tandem.WorkspaceDoc) {
			d.Workflows[0].Modules = append([]tandem.ModuleInstance{mod("verify_pan", "PAN", "")}, d.Workflows[0].Modules...)
		}},
		{"Gatepass", func(d *tandem.WorkspaceDoc) { d.Applications[0].Gatepass = `ip_in(web.ip, "10.0.0.0/8")` }},
		{"DisabledModule", func(d *tandem.WorkspaceDoc) { f := false; d.Workflows[1].Modules[2].Enabled = &f }},
		{"UnattachedWorkflow", func(d *tandem.WorkspaceDoc) {
			d.Workflows = append(d.Workflows, tandem.Workflow{Name: "spare", Modules: []tandem.ModuleInstance{mod("verify_pan", "PAN", "")}})
		}},
		{"NoApplicationsNoWorkflows", func(d *tandem.WorkspaceDoc) { d.Applications, d.Workflows = nil, nil }},
	}
	v := newValidator(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := example(t)
			tc.edit(&doc)
			if _, err := v.Validate(doc); err != nil {
				t.Fatalf("Validate refused the document: %v", err)
			}
		})
	}
}

func slicesDelete[T any](s []T, i int) []T { return append(s[:i:i], s[i+1:]...) }

// TestValidateNormalizesExample compares the normalized example with a
// golden file, so that a change of defaults is reviewed.
func TestValidateNormalizesExample(t *testing.T) {
	v := newValidator(t)
	got, err := v.Validate(example(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "workspace.normalized.golden.json"), append(b, '\n'))
}

func TestValidateNormalizes(t *testing.T) {
	v := newValidator(t)
	f, tr := false, true
	doc := example(t)
	doc.Workflows[1].Modules[0].Enabled = &tr
	doc.Workflows[1].Modules[2].Enabled = &f
	got, err := v.Validate(doc)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("SortsByName", func(t *testing.T) {
		var apps, wfs []string
		for _, a := range got.Applications {
			apps = append(apps, a.Name)
		}
		for _, w := range got.Workflows {
			wfs = append(wfs, w.Name)
		}
		if diff := cmp.Diff([]string{"acme-mobile", "web-login"}, apps); diff != "" {
			t.Errorf("applications (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"login", "phone-check"}, wfs); diff != "" {
			t.Errorf("workflows (-want +got):\n%s", diff)
		}
	})
	app := func(name string) tandem.Application {
		a, ok := got.Application(name)
		if !ok {
			t.Fatalf("application %s missing", name)
		}
		return *a
	}
	wf := func(name string) tandem.Workflow {
		w, ok := got.Workflow(name)
		if !ok {
			t.Fatalf("workflow %s missing", name)
		}
		return *w
	}
	t.Run("LinkExpiryDefault", func(t *testing.T) {
		for _, name := range []string{"web-login", "acme-mobile"} {
			if got := app(name).LinkExpiryS; got != 600 {
				t.Errorf("%s: link_expiry_s = %d, want 600", name, got)
			}
		}
	})
	t.Run("CIBADefaults", func(t *testing.T) {
		if c := app("web-login").CIBA; c != nil {
			t.Errorf("web-login ciba = %+v, want nil (poll mode)", c)
		}
		d := example(t)
		d.Applications[0].CIBA = &tandem.CIBASettings{}
		n, err := v.Validate(d)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := n.Application("web-login")
		if diff := cmp.Diff(&tandem.CIBASettings{DeliveryMode: "poll"}, a.CIBA); diff != "" {
			t.Errorf("empty ciba block (-want +got):\n%s", diff)
		}
		if d.Applications[0].CIBA.DeliveryMode != "" {
			t.Error("Validate changed its input")
		}
	})
	t.Run("MobileDefaults", func(t *testing.T) {
		if diff := cmp.Diff(&tandem.Mobile{Notification: "qr", Proximity: true}, app("acme-mobile").Mobile); diff != "" {
			t.Errorf("acme-mobile mobile (-want +got):\n%s", diff)
		}
		if m := app("web-login").Mobile; m != nil {
			t.Errorf("web-login mobile = %+v, want nil", m)
		}
		d := example(t)
		d.Applications[1].Mobile = nil
		d.Workflows[1].Modules = slicesDelete(d.Workflows[1].Modules, 1)
		n, err := v.Validate(d)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := n.Application("acme-mobile")
		if diff := cmp.Diff(&tandem.Mobile{Notification: "qr"}, a.Mobile); diff != "" {
			t.Errorf("mobile app without a mobile block (-want +got):\n%s", diff)
		}
	})
	t.Run("ConfigDefaults", func(t *testing.T) {
		tests := []struct {
			workflow string
			index    int
			want     string
		}{
			{"login", 0, ""},
			{"login", 1, `{"device_application":"acme-mobile","number_prompt":true,"pairing_ttl_s":120,"timeout_s":300}`},
			{"phone-check", 0, `{"options":3,"mode":"choose","ttl_s":60,"mute_after_deny_s":900,"max_failures_per_hour":10,"lockout_s":900}`},
			{"phone-check", 1, `{"distance_m":200,"max_age_s":120,"reject_mock":true,"policy":"standard"}`},
			{"phone-check", 2, ""},
		}
		for _, tc := range tests {
			if got := string(wf(tc.workflow).Modules[tc.index].Configs); got != tc.want {
				t.Errorf("%s module %d configs = %s, want %s", tc.workflow, tc.index, got, tc.want)
			}
		}
	})
	t.Run("Enabled", func(t *testing.T) {
		mods := wf("phone-check").Modules
		if mods[0].Enabled != nil {
			t.Errorf("enabled: true kept as %v, want it dropped", *mods[0].Enabled)
		}
		if mods[2].Enabled == nil || *mods[2].Enabled {
			t.Errorf("enabled: false not kept: %v", mods[2].Enabled)
		}
		if mods[1].Enabled != nil {
			t.Errorf("enabled added where it was absent")
		}
	})
	t.Run("KeepsGeneralFields", func(t *testing.T) {
		m := wf("phone-check").Modules[2]
		if m.Rule != "request.metadata.kyc == 'full'" || m.DisplayName != "PAN" || m.Type != "verify_pan" {
			t.Errorf("module changed: %+v", m)
		}
	})
	t.Run("DoesNotChangeInput", func(t *testing.T) {
		if diff := cmp.Diff(example(t).Workflows[0].Modules[1].Configs, doc.Workflows[0].Modules[1].Configs); diff != "" {
			t.Errorf("input configs changed (-want +got):\n%s", diff)
		}
		if doc.Applications[0].LinkExpiryS != 0 {
			t.Errorf("input link_expiry_s changed to %d", doc.Applications[0].LinkExpiryS)
		}
	})
}

func TestValidateIsIdempotent(t *testing.T) {
	v := newValidator(t)
	docs := map[string]tandem.WorkspaceDoc{"Example": example(t)}
	d := example(t)
	f := false
	d.Applications[0].RedirectURLs = []string{"https://b.example/", "https://a.example/"}
	d.Applications[0].Gatepass = "request.allow_new_device"
	d.Applications[1].Mobile = &tandem.Mobile{Notification: "push", Proximity: true, PushTitle: "Acme"}
	d.Workflows[1].Modules[1].Configs = json.RawMessage(`{"distance_m": 50, "max_web_accuracy_m": 75.5, "policy": "strict"}`)
	d.Workflows[1].Modules[2].Enabled = &f
	d.Workflows[1].Modules[2].Description = "Only for full KYC"
	d.Workflows[1].Modules = append(d.Workflows[1].Modules, mod("device_register", "Register", `{"multi_device": false}`))
	docs["Everything"] = d
	docs["Empty"] = tandem.WorkspaceDoc{Name: "empty"}

	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			once, err := v.Validate(doc)
			if err != nil {
				t.Fatal(err)
			}
			twice, err := v.Validate(once)
			if err != nil {
				t.Fatalf("the normalized document is refused: %v", err)
			}
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("Validate(Validate(x)) != Validate(x) (-once +twice):\n%s", diff)
			}
			// Normalizing also survives a JSON round trip, as through the store.
			b, err := json.Marshal(once)
			if err != nil {
				t.Fatal(err)
			}
			rt, err := v.Validate(decodeDoc(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(once, rt); diff != "" {
				t.Errorf("after a JSON round trip (-once +got):\n%s", diff)
			}
		})
	}
}

// TestValidateSameMeaningSameForm: a document written with the defaults
// spelled out, in another order, normalizes to the same value as the
// example.
func TestValidateSameMeaningSameForm(t *testing.T) {
	v := newValidator(t)
	spelled := decodeDoc(t, []byte(`{
	  "name": "acme",
	  "workflows": [
	    {"name": "phone-check", "modules": [
	      {"type": "number_prompt", "display_name": "Match the number", "enabled": true,
	       "configs": {"lockout_s": 900, "options": 3, "mode": "choose"}},
	      {"type": "proximity", "display_name": "Are you near your computer?",
	       "configs": {"policy": "standard", "distance_m": 200.0, "reject_mock": true}},
	      {"type": "verify_pan", "display_name": "PAN", "rule": "request.metadata.kyc == 'full'", "configs": {}}
	    ]},
	    {"name": "login", "modules": [
	      {"type": "verify_aadhaar", "display_name": "Aadhaar", "configs": null},
	      {"type": "web_to_device", "display_name": "Continue on your phone",
	       "configs": {"timeout_s": 300, "number_prompt": true, "device_application": "acme-mobile", "pairing_ttl_s": 120}}
	    ]}
	  ],
	  "applications": [
	    {"name": "acme-mobile", "verification_way": "mobile", "workflow": "phone-check", "link_expiry_s": 600,
	     "mobile": {"proximity": true}},
	    {"name": "web-login", "verification_way": "web", "workflow": "login", "redirect_urls": []}
	  ]
	}`))
	want, err := v.Validate(example(t))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Validate(spelled)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("normalized forms differ (-example +spelled out):\n%s", diff)
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs (-want +got; run go test -update if the change is intended):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

// fakeStore is a WorkspaceStore whose ApplyWorkspace answers ECONFLICT a
// given number of times; it records what it was given.
type fakeStore struct {
	tandem.WorkspaceStore // nil: other methods are not used
	ws                    tandem.Workspace
	conflicts             int
	gets, applies         int
	applied               []tandem.WorkspaceDoc
	versions              []int64
}

func (f *fakeStore) GetWorkspace(ctx context.Context, name string) (*tandem.Workspace, error) {
	f.gets++
	if name != f.ws.Doc.Name {
		return nil, tandem.Errorf(tandem.ENOTFOUND, "workspace %q not found", name)
	}
	ws := f.ws
	return &ws, nil
}

func (f *fakeStore) ApplyWorkspace(ctx context.Context, doc tandem.WorkspaceDoc, ifVersion int64) (*tandem.ApplyResult, error) {
	f.applies++
	f.versions = append(f.versions, ifVersion)
	if f.conflicts > 0 {
		f.conflicts--
		f.ws.Version++ // someone else wrote
		return nil, tandem.Errorf(tandem.ECONFLICT, "changed concurrently")
	}
	f.applied = append(f.applied, doc)
	f.ws.Doc = doc
	f.ws.Version++
	return &tandem.ApplyResult{Changes: []tandem.Change{{Action: "changed", Kind: "workspace", Name: doc.Name}}, Version: f.ws.Version}, nil
}

func TestApply(t *testing.T) {
	v := newValidator(t)
	t.Run("StoresNormalizedDocument", func(t *testing.T) {
		st := &fakeStore{}
		if _, err := v.Apply(t.Context(), st, example(t), 7); err != nil {
			t.Fatal(err)
		}
		want, _ := v.Validate(example(t))
		if diff := cmp.Diff([]tandem.WorkspaceDoc{want}, st.applied); diff != "" {
			t.Errorf("applied (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]int64{7}, st.versions); diff != "" {
			t.Errorf("ifVersion (-want +got):\n%s", diff)
		}
	})
	t.Run("InvalidWritesNothing", func(t *testing.T) {
		st := &fakeStore{}
		doc := example(t)
		doc.Workflows[1].Modules[1].Configs = nil
		_, err := v.Apply(t.Context(), st, doc, tandem.AnyVersion)
		if tandem.ErrorCode(err) != tandem.EINVALID {
			t.Fatalf("err = %v, want EINVALID", err)
		}
		if st.applies != 0 {
			t.Errorf("ApplyWorkspace called %d times", st.applies)
		}
	})
}

func TestUpdate(t *testing.T) {
	v := newValidator(t)
	norm, err := v.Validate(example(t))
	if err != nil {
		t.Fatal(err)
	}
	setLinkExpiry := func(doc *tandem.WorkspaceDoc) error {
		a, _ := doc.Application("web-login")
		a.LinkExpiryS = 900
		return nil
	}
	tests := []struct {
		name         string
		conflicts    int
		edit         func(doc *tandem.WorkspaceDoc) error
		wantCode     string
		wantApplies  int
		wantVersions []int64
	}{
		{"NoConflict", 0, setLinkExpiry, "", 1, []int64{3}},
		{"RetriesConflicts", 3, setLinkExpiry, "", 4, []int64{3, 4, 5, 6}},
		{"GivesUpAfterFourAttempts", 4, setLinkExpiry, tandem.ECONFLICT, 4, []int64{3, 4, 5, 6}},
		{"EditErrorReturnedAsIs", 0, func(*tandem.WorkspaceDoc) error { return tandem.Errorf(tandem.ENOTFOUND, "no such app") }, tandem.ENOTFOUND, 0, nil},
		{"InvalidEditNotStored", 0, func(doc *tandem.WorkspaceDoc) error { doc.Applications[0].VerificationWay = "fax"; return nil }, tandem.EINVALID, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &fakeStore{ws: tandem.Workspace{Doc: norm, Version: 3}, conflicts: tc.conflicts}
			res, err := v.Update(t.Context(), st, "acme", tc.edit)
			if got := tandem.ErrorCode(err); got != tc.wantCode {
				t.Fatalf("error code = %q, want %q (err: %v)", got, tc.wantCode, err)
			}
			if st.applies != tc.wantApplies {
				t.Errorf("ApplyWorkspace called %d times, want %d", st.applies, tc.wantApplies)
			}
			if diff := cmp.Diff(tc.wantVersions, st.versions); diff != "" {
				t.Errorf("ifVersion per attempt (-want +got):\n%s", diff)
			}
			if tc.wantCode != "" {
				return
			}
			if res.Version != int64(3+tc.conflicts+1) {
				t.Errorf("version = %d", res.Version)
			}
			a, _ := st.ws.Doc.Application("web-login")
			if a.LinkExpiryS != 900 {
				t.Errorf("stored link_expiry_s = %d, want 900", a.LinkExpiryS)
			}
		})
	}
	t.Run("UnknownWorkspace", func(t *testing.T) {
		st := &fakeStore{ws: tandem.Workspace{Doc: norm, Version: 1}}
		called := false
		_, err := v.Update(t.Context(), st, "nope", func(*tandem.WorkspaceDoc) error { called = true; return nil })
		if tandem.ErrorCode(err) != tandem.ENOTFOUND || called {
			t.Errorf("err = %v, edit called = %v; want ENOTFOUND without calling edit", err, called)
		}
	})
}

func TestValidateRateLimitBurstDefault(t *testing.T) {
	v := newValidator(t)
	tests := []struct {
		in, want tandem.RateLimit
	}{
		{tandem.RateLimit{RequestsPerSecond: 100}, tandem.RateLimit{RequestsPerSecond: 100, Burst: 300}},
		{tandem.RateLimit{RequestsPerSecond: 0.5}, tandem.RateLimit{RequestsPerSecond: 0.5, Burst: 2}},
		{tandem.RateLimit{RequestsPerSecond: 0.01}, tandem.RateLimit{RequestsPerSecond: 0.01, Burst: 1}},
		{tandem.RateLimit{RequestsPerSecond: 1, Burst: 5}, tandem.RateLimit{RequestsPerSecond: 1, Burst: 5}},
	}
	for _, tt := range tests {
		doc := example(t)
		in := tt.in
		doc.Applications[0].RateLimit = &in
		name := doc.Applications[0].Name
		got, err := v.Validate(doc)
		if err != nil {
			t.Fatalf("rate_limit %+v: %v", tt.in, err)
		}
		app, _ := got.Application(name)
		if app.RateLimit == nil || *app.RateLimit != tt.want {
			t.Errorf("rate_limit %+v normalized to %+v, want %+v", tt.in, app.RateLimit, tt.want)
		}
	}
}
