// Package module defines what a workflow module is and holds the registry of
// module types. Each module type lives in its own sub-package and is added to
// a Registry with one line in the command that wires the server.
package module

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/strictjson"
)

// Side says where a module's step is carried out.
type Side string

const (
	SideWeb    Side = "web"    // in the browser of the web application
	SideDevice Side = "device" // on the phone, in the mobile application's workflow
	SideBoth   Side = "both"   // in either workflow
)

// Info describes a module type.
type Info struct {
	// Type is the module id used in workflow documents, e.g. "verify_pan".
	Type string
	// Name is the human name shown in the console, e.g. "Verify PAN".
	Name string
	// Side says in which kind of application's workflow the module may run.
	Side Side
	// Claims lists the claim names the module can produce.
	Claims []string
	// NewConfig returns a pointer to a config with its defaults filled in;
	// the registry decodes the module instance's configs into it. A module
	// without configs returns *NoConfig.
	NewConfig func() Config
	// Web is set for modules that run as a form in the browser.
	Web WebStep
	// Device is set for modules that run on the phone.
	Device DeviceStep
}

// Config is a module type's typed configuration.
type Config interface {
	// Validate reports every problem with the config as field errors whose
	// paths are relative to the configs object (e.g. "distance_m").
	Validate() []tandem.FieldError
}

// NoConfig is the config of modules that have none; any field is refused.
type NoConfig struct{}

func (*NoConfig) Validate() []tandem.FieldError { return nil }

// Registry is the set of known module types.
type Registry struct {
	infos map[string]Info
}

// NewRegistry returns a registry of the given module types. It panics on a
// duplicate or incomplete Info, which is a programming error.
func NewRegistry(infos ...Info) *Registry {
	r := &Registry{infos: make(map[string]Info, len(infos))}
	for _, in := range infos {
		if in.Type == "" || in.NewConfig == nil || in.Side == "" {
			panic(fmt.Sprintf("module: incomplete Info %q", in.Type))
		}
		if _, dup := r.infos[in.Type]; dup {
			panic(fmt.Sprintf("module: duplicate type %q", in.Type))
		}
		r.infos[in.Type] = in
	}
	return r
}

// Lookup returns the Info of a module type.
func (r *Registry) Lookup(typ string) (Info, bool) {
	in, ok := r.infos[typ]
	return in, ok
}

// Types returns the registered module types in sorted order.
func (r *Registry) Types() []string {
	ts := make([]string, 0, len(r.infos))
	for t := range r.infos {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// DecodeConfig decodes raw strictly into the config type of typ (unknown
// fields and trailing data are refused) and validates it. Field error paths
// are relative to the configs object. An empty raw yields the defaults.
func (r *Registry) DecodeConfig(typ string, raw json.RawMessage) (Config, []tandem.FieldError) {
	in, ok := r.infos[typ]
	if !ok {
		return nil, []tandem.FieldError{{Message: fmt.Sprintf("unknown module type %q; known types: %s", typ, strings.Join(r.Types(), ", "))}}
	}
	cfg := in.NewConfig()
	if len(bytes.TrimSpace(raw)) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		if err := DecodeStrict(raw, cfg); err != nil {
			return nil, []tandem.FieldError{*err}
		}
	}
	return cfg, cfg.Validate()
}

// DecodeStrict decodes one JSON value from raw into v, refusing unknown
// fields (names match exactly), duplicate fields, wrong types and trailing
// data. The error names the field with a path relative to raw.
func DecodeStrict(raw []byte, v any) *tandem.FieldError {
	if errs := strictjson.Decode(raw, v, ""); len(errs) > 0 {
		return &errs[0]
	}
	return nil
}
