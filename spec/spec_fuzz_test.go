package spec_test

import (
	"encoding/json"
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/strictjson"
)

var fuzzNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// FuzzValidate decodes a workspace document strictly, as the admin API and
// tandem apply do, and validates it. Validate must never panic; a refusal
// is an EINVALID error naming each problem's path; what it accepts has
// valid names and is a fixed point: validating the normalized document,
// also after a round trip through its stored JSON form, gives it back
// unchanged.
func FuzzValidate(f *testing.F) {
	f.Add(examples.Workspace)
	for _, s := range []string{
		`{"name":"acme","applications":[],"workflows":[]}`,
		`{"name":"a","applications":[{"name":"w","verification_way":"web","workflow":"f","gatepass":"request.user_id != ''","redirect_urls":["https://x.example/"],"webhook_url":"https://h.example/"}],"workflows":[{"name":"f","modules":[{"type":"verify_pan","display_name":"P","rule":"true","enabled":false}]}]}`,
		`{"name":"a","applications":[{"name":"w","verification_way":"web","workflow":"f"},{"name":"m","verification_way":"mobile","workflow":"g","mobile":{"notification":"push","proximity":true,"push_title":"t"}}],"workflows":[{"name":"f","modules":[{"type":"web_to_device","display_name":"x","configs":{"device_application":"m","number_prompt":true}}]},{"name":"g","modules":[{"type":"number_prompt","display_name":"n","configs":{"options":4}},{"type":"proximity","display_name":"p","configs":{"distance_m":500,"strict":true}},{"type":"device_register","display_name":"r"}]}]}`,
		`{"name":"a","settings":{"location_retention_s":59},"applications":[{"name":"w","verification_way":"web","workflow":"w","link_expiry_s":86401}],"workflows":[{"name":"w","modules":[]}]}`,
		`{"name":"A","applications":[{"name":"w","verification_way":"web","workflow":"f"},{"name":"w","verification_way":"web","workflow":"f"}],"workflows":[{"name":"f","modules":[{"type":"web_to_device","display_name":"x","configs":{"device_application":"w"}}]},{"name":"f","modules":[{"type":"nope","display_name":""}]}]}`,
		`{"name":"a","applications":[{"name":"w","verification_way":"web","workflow":"f"}],"workflows":[{"name":"f","modules":[{"type":"verify_aadhaar","display_name":"x","configs":{"bogus":1}}]}]}`,
		`{"name":"a","applications":[{"name":"w","verification_way":"web","workflow":"f","ciba":{"delivery_mode":"ping","notification_endpoint":"http://127.0.0.1/x"}}],"workflows":[{"name":"f","modules":[{"type":"verify_aadhaar","display_name":"x","rule":"{{.}}"}]}]}`,
	} {
		f.Add([]byte(s))
	}
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc tandem.WorkspaceDoc
		if errs := strictjson.Decode(data, &doc, ""); len(errs) > 0 {
			return
		}
		checkValidate(t, v, doc)
	})
}

// FuzzValidateParts builds the two-application pattern from fuzzed parts
// (names, ways, module types, configs, rules, limits), which reaches
// deeper into Validate than mutated JSON, and checks the properties of
// FuzzValidate.
func FuzzValidateParts(f *testing.F) {
	f.Add("acme", "web-login", "web", "acme-mobile", "mobile", "login", "phone", "verify_aadhaar", "Aadhaar", "", "", "web_to_device", `{"device_application":"acme-mobile","number_prompt":true}`, "number_prompt", `{}`, "proximity", `{"distance_m":200}`, "request.metadata.kyc == 'full'", "https://app.example/done", true, 600)
	f.Add("a", "w", "web", "m", "mobile", "f", "g", "verify_pan", "PAN", "{{.}}", `{"x":1}`, "web_to_device", `{"device_application":"w"}`, "device_verify", `null`, "verify_pan", `[]`, "' OR 1=1 --", "javascript:alert(1)", false, 59)
	f.Add("", "W", "", "m", "web", "", "g", "", "", "", "", "number_prompt", `{"options":11}`, "proximity", `{"distance_m":0}`, "device_register", `{"max_devices":11}`, "", "http://localhost:8080/x", true, 86401)
	v := fuzzValidator(f)
	f.Fuzz(func(t *testing.T, ws, webApp, webWay, mobApp, mobWay, webWF, mobWF, t1, d1, rule1, c1, t2, c2, t3, c3, t4, c4, rule4, redirect string, proximity bool, linkExpiry int) {
		raw := func(s string) json.RawMessage {
			if s == "" || !json.Valid([]byte(s)) {
				return nil
			}
			return json.RawMessage(s)
		}
		doc := tandem.WorkspaceDoc{
			Name: ws,
			Applications: []tandem.Application{
				{Name: webApp, VerificationWay: webWay, Workflow: webWF, LinkExpiryS: linkExpiry, RedirectURLs: []string{redirect}},
				{Name: mobApp, VerificationWay: mobWay, Workflow: mobWF, Mobile: &tandem.Mobile{Proximity: proximity}},
			},
			Workflows: []tandem.Workflow{
				{Name: webWF, Modules: []tandem.ModuleInstance{
					{Type: t1, DisplayName: d1, Rule: rule1, Configs: raw(c1)},
					{Type: t2, DisplayName: "Hand-over", Configs: raw(c2)},
				}},
				{Name: mobWF, Modules: []tandem.ModuleInstance{
					{Type: t3, DisplayName: "Three", Configs: raw(c3)},
					{Type: t4, DisplayName: "Four", Rule: rule4, Configs: raw(c4)},
				}},
			},
		}
		checkValidate(t, v, doc)
	})
}

func fuzzValidator(f *testing.F) *spec.Validator {
	env, err := rules.NewEnv()
	if err != nil {
		f.Fatal(err)
	}
	return &spec.Validator{Modules: all.Registry(), Rules: env}
}

func checkValidate(t *testing.T, v *spec.Validator, doc tandem.WorkspaceDoc) {
	t.Helper()
	norm, err := v.Validate(doc)
	if err != nil {
		var te *tandem.Error
		if !errors.As(err, &te) || te.Code != tandem.EINVALID || len(te.Fields) == 0 {
			t.Fatalf("Validate refused with %v (%T), want an EINVALID error with fields", err, err)
		}
		for _, fe := range te.Fields {
			if fe.Path == "" || fe.Message == "" {
				t.Errorf("a problem without path or message: %+v", fe)
			}
		}
		return
	}
	if !fuzzNamePattern.MatchString(norm.Name) {
		t.Errorf("accepted workspace name %q", norm.Name)
	}
	for _, a := range norm.Applications {
		if !fuzzNamePattern.MatchString(a.Name) || (a.VerificationWay != tandem.WayWeb && a.VerificationWay != tandem.WayMobile) {
			t.Errorf("accepted application %+v", a)
		}
	}
	for _, w := range norm.Workflows {
		if !fuzzNamePattern.MatchString(w.Name) || len(w.Modules) == 0 || len(w.Modules) > spec.MaxModules {
			t.Errorf("accepted workflow %q with %d modules", w.Name, len(w.Modules))
		}
	}
	again, err := v.Validate(norm)
	if err != nil {
		t.Fatalf("the normalized document is refused: %v", err)
	}
	if diff := cmp.Diff(norm, again); diff != "" {
		t.Fatalf("normalizing twice differs (-once +twice):\n%s", diff)
	}
	stored, err := json.Marshal(norm)
	if err != nil {
		t.Fatal(err)
	}
	var back tandem.WorkspaceDoc
	if errs := strictjson.Decode(stored, &back, ""); len(errs) > 0 {
		t.Fatalf("the stored form %s does not decode: %v", stored, errs)
	}
	again, err = v.Validate(back)
	if err != nil {
		t.Fatalf("the stored form is refused: %v", err)
	}
	if diff := cmp.Diff(norm, again); diff != "" {
		t.Fatalf("the stored form normalizes differently (-before +after):\n%s", diff)
	}
}
