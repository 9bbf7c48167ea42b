package engine_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/store"
)

const proximityWorkspace = `{"name": "acme",
 "applications": [
   {"name": "web", "verification_way": "web", "workflow": "login"},
   {"name": "phone", "verification_way": "mobile", "workflow": "on-phone", "mobile": {"proximity": true}}],
 "workflows": [
   {"name": "login", "modules": [
     {"type": "web_to_device", "display_name": "Continue on your phone", "configs": {"device_application": "phone"}}]},
   {"name": "on-phone", "modules": [
     {"type": "proximity", "display_name": "Near your computer?", "configs": {"distance_m": 200}}]}]}`

func TestProximityHandover(t *testing.T) {
	// The browser at the seed sample's point; the phone north of it.
	const webLat, webLon = 12.94739, 80.24207
	tests := []struct {
		name      string
		northM    float64
		mock      bool
		wantPass  bool
		wantInMsg string
	}{
		{"near", 120, false, true, ""},
		{"far", 900, false, false, "900 m"},
		{"mock", 10, true, false, "mock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			env, _ := rules.NewEnv()
			v := &spec.Validator{Modules: all.Registry(), Rules: env}
			var doc tandem.WorkspaceDoc
			json.Unmarshal([]byte(proximityWorkspace), &doc)
			if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
				t.Fatal(err)
			}
			c := newClock()
			db.Now = c.Now
			f := &devFixture{db: db, clock: c, apps: map[string]*tandem.AppRef{}}
			f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Now: c.Now, PublicURL: "https://verify.example"}
			f.apps["web"], _ = db.GetApplication(ctx, "acme", "web")

			cr, err := f.eng.Create(ctx, f.apps["web"], engine.CreateRequest{UserID: "mark", AllowNewDevice: true}, "")
			if err != nil {
				t.Fatal(err)
			}
			token := strings.TrimPrefix(cr.URL, "https://verify.example/v/")
			if _, err := f.eng.Open(ctx, token, "browser", "203.0.113.10", "Chrome"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.eng.NewPairing(ctx, token, "browser", ""); tandem.ErrorReason(err) != "location_required" {
				t.Fatalf("pairing before the browser's location: %v, want location_required", err)
			}
			if _, err := f.eng.SetWebLocation(ctx, token, "browser", tandem.WebLocation{Lat: 91, Lon: 0}, ""); tandem.ErrorCode(err) != tandem.EINVALID {
				t.Errorf("latitude 91 accepted: %v", err)
			}
			if _, err := f.eng.SetWebLocation(ctx, token, "browser", tandem.WebLocation{Lat: webLat, Lon: webLon, AccuracyM: 18.082, ReadAt: c.Now()}, "203.0.113.10"); err != nil {
				t.Fatal(err)
			}
			p, err := f.eng.NewPairing(ctx, token, "browser", "")
			if err != nil {
				t.Fatal(err)
			}
			ph := newPhone(t)
			s, err := ph.pair(t, f, strings.TrimPrefix(p.URL, "https://verify.example/d/"))
			if err != nil || s.Step == nil || s.Step.Type != "proximity" {
				t.Fatalf("pair: %+v %v", s, err)
			}
			c.Add(5 * time.Second)
			loc := deviceproto.Location{Lat: webLat + tt.northM/111195.0, Lon: webLon, AccuracyM: 8, AccuracyKind: "p68", ReadAt: c.Now().Unix(), Mock: tt.mock}
			s, err = ph.answer(t, f, s.Step.Index, map[string]any{"location": loc})
			if err != nil {
				t.Fatal(err)
			}
			vv, _ := f.eng.Lookup(ctx, token, "browser", "")
			res := engine.Result(vv)
			wantVerified := map[bool]string{true: "true", false: "false"}[tt.wantPass]
			if res["proximity_verified"] != wantVerified || res["web_ip"] != "203.0.113.10" || res["web_geo_acc"] != "18.082" || res["mob_lat"] == "" || res["web_mob_dist"] == "" || res["prx_read_at"] == "" {
				t.Errorf("claims %v", res)
			}
			if tt.wantPass != (vv.Status == tandem.StatusCompleted) {
				t.Errorf("status %s, want pass=%v", vv.Status, tt.wantPass)
			}
			if !tt.wantPass && !strings.Contains(strings.ToLower(vv.Reason), tt.wantInMsg) {
				t.Errorf("reason %q does not mention %q", vv.Reason, tt.wantInMsg)
			}
		})
	}
}

func TestLocationPurge(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env, _ := rules.NewEnv()
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	var doc tandem.WorkspaceDoc
	json.Unmarshal([]byte(proximityWorkspace), &doc)
	doc.Settings = &tandem.WorkspaceSettings{LocationRetentionS: 3600}
	if _, err := v.Apply(ctx, db, doc, tandem.AnyVersion); err != nil {
		t.Fatal(err)
	}
	c := newClock()
	db.Now = c.Now
	f := &devFixture{db: db, clock: c}
	f.eng = &engine.Engine{Store: db, Modules: v.Modules, Rules: env, Events: events.NewHub(), Now: c.Now, PublicURL: "https://verify.example"}
	web, _ := db.GetApplication(ctx, "acme", "web")
	cr, _ := f.eng.Create(ctx, web, engine.CreateRequest{UserID: "mark", AllowNewDevice: true}, "")
	token := strings.TrimPrefix(cr.URL, "https://verify.example/v/")
	f.eng.Open(ctx, token, "browser", "203.0.113.10", "")
	f.eng.SetWebLocation(ctx, token, "browser", tandem.WebLocation{Lat: 12.94739, Lon: 80.24207, AccuracyM: 10, ReadAt: c.Now()}, "")
	p, _ := f.eng.NewPairing(ctx, token, "browser", "")
	ph := newPhone(t)
	s, err := ph.pair(t, f, strings.TrimPrefix(p.URL, "https://verify.example/d/"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ph.answer(t, f, s.Step.Index, map[string]any{"location": deviceproto.Location{Lat: 12.9474, Lon: 80.2421, AccuracyM: 5, ReadAt: c.Now().Unix()}}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.eng.PurgeLocations(ctx); err != nil || n != 0 {
		t.Fatalf("purge before the retention time: %d %v", n, err)
	}
	c.Add(61 * time.Minute)
	if n, err := f.eng.PurgeLocations(ctx); err != nil || n != 1 {
		t.Fatalf("purge after the retention time: %d %v, want 1", n, err)
	}
	vv, _ := f.eng.Lookup(ctx, token, "browser", "")
	res := engine.Result(vv)
	for _, k := range []string{"web_lat", "web_long", "mob_lat", "mob_long"} {
		if _, ok := res[k]; ok {
			t.Errorf("claim %s kept after the purge", k)
		}
	}
	if res["proximity_verified"] != "true" || res["web_mob_dist"] == "" || vv.Web.Location == nil || !vv.Web.Location.Purged || vv.Web.Location.Lat != 0 {
		t.Errorf("after the purge: claims %v, location %+v; want the decision and distance kept and coordinates gone", res, vv.Web.Location)
	}
}
