package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandem-id/tandem/store"
)

const exampleFile = "../../examples/workspace.json"

// applyRun runs `tandem apply` with args and returns its stdout and error.
func applyRun(t *testing.T, args []string, e map[string]string) (string, error) {
	t.Helper()
	var stdout, stderr syncBuffer
	err := Run(t.Context(), append([]string{"apply"}, args...), &stdout, &stderr, env(e))
	if err == nil && stderr.String() != "" {
		t.Errorf("stderr = %q", &stderr)
	}
	return stdout.String(), err
}

// writeDoc writes a variant of the example document: each pair of edits
// replaces its first string with its second.
func writeDoc(t *testing.T, edits ...string) string {
	t.Helper()
	b, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			t.Fatalf("example has no %q", edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	path := filepath.Join(t.TempDir(), "workspace.json")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// invalidEdits make the example wrong in two places.
var invalidEdits = []string{
	`"verification_way": "web"`, `"verification_way": "fax"`,
	`{"distance_m": 200}`, `{"distance_m": 0}`,
}

// target is where apply writes: a database or a running server.
type target struct {
	name string
	args func(t *testing.T) ([]string, func(t *testing.T) int64) // flags, and the stored version of acme
}

func targets() []target {
	return []target{
		{"Local", func(t *testing.T) ([]string, func(t *testing.T) int64) {
			dsn := sqliteDSN(t)
			return []string{"-db", dsn}, func(t *testing.T) int64 { return storedVersion(t, dsn) }
		}},
		{"Remote", func(t *testing.T) ([]string, func(t *testing.T) int64) {
			const token = "apply-test-admin-token"
			dsn := sqliteDSN(t)
			s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", dsn, "-admin-token", token}, env(nil))
			return []string{"-server", s.url, "-admin-token", token}, func(t *testing.T) int64 { return remoteVersion(t, s.url, token) }
		}},
	}
}

func storedVersion(t *testing.T, dsn string) int64 {
	t.Helper()
	db, err := store.Open(t.Context(), dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ws, err := db.GetWorkspace(t.Context(), "acme")
	if err != nil {
		return 0
	}
	return ws.Version
}

func remoteVersion(t *testing.T, url, token string) int64 {
	t.Helper()
	r := get(t, url+"/admin/v1/workspaces/acme", token)
	if r.status == 404 {
		return 0
	}
	v, err := strconv.ParseInt(strings.Trim(r.header.Get("ETag"), `"`), 10, 64)
	if err != nil {
		t.Fatalf("ETag %q: %v", r.header.Get("ETag"), err)
	}
	return v
}

func TestApply(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			flags, version := tg.args(t)
			run := func(t *testing.T, file string) (string, error) {
				t.Helper()
				return applyRun(t, append([]string{"-f", file}, flags...), nil)
			}

			out, err := run(t, exampleFile)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "apply_first.golden"), out)

			out, err = run(t, exampleFile)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "apply_second.golden"), out)
			if v := version(t); v != 1 {
				t.Errorf("version = %d after applying the same file twice, want 1", v)
			}

			out, err = run(t, writeDoc(t, `{"distance_m": 200}`, `{"distance_m": 100}`))
			if err != nil {
				t.Fatal(err)
			}
			if want := "changed workflow phone-check\nworkspace acme is now at version 2\n"; out != want {
				t.Errorf("after a change: stdout = %q, want %q", out, want)
			}

			bad := writeDoc(t, invalidEdits...)
			out, err = run(t, bad)
			if err == nil {
				t.Fatalf("an invalid document was applied: %s", out)
			}
			lines := strings.Split(err.Error(), "\n")
			want := []string{
				bad + " was refused:",
				`  applications[0].verification_way: verification_way must be "web" or "mobile", not "fax"`,
				"  workflows[1].modules[1].configs.distance_m: distance_m must be at least 1 metre, not 0: set the proximity range in metres, 1 to 500",
			}
			if diff := cmp.Diff(want, lines); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if out != "" {
				t.Errorf("stdout = %q after a refusal", out)
			}
			if v := version(t); v != 2 {
				t.Errorf("version = %d after a refused apply, want 2", v)
			}
		})
	}
}

// TestApplyErrorsSameLocalAndRemote: an operator sees the same message
// whether apply writes to the database or goes through a server.
func TestApplyErrorsSameLocalAndRemote(t *testing.T) {
	files := map[string]string{
		"Invalid":          writeDoc(t, invalidEdits...),
		"HandoverBroken":   writeDoc(t, `"device_application": "acme-mobile"`, `"device_application": "web-login"`),
		"NumberPromptNeed": writeDoc(t, `"number_prompt": true`, `"number_prompt": false`),
	}
	tgs := targets()
	var flags [2][]string
	for i, tg := range tgs {
		flags[i], _ = tg.args(t)
	}
	for name, file := range files {
		t.Run(name, func(t *testing.T) {
			var msgs [2]string
			for i := range tgs {
				_, err := applyRun(t, append([]string{"-f", file}, flags[i]...), nil)
				if err == nil {
					t.Fatalf("%s: applied", tgs[i].name)
				}
				msgs[i] = err.Error()
			}
			if diff := cmp.Diff(msgs[0], msgs[1]); diff != "" {
				t.Errorf("local and remote errors differ (-local +remote):\n%s", diff)
			}
			if !strings.Contains(msgs[0], "was refused:\n  ") {
				t.Errorf("error does not list fields: %s", msgs[0])
			}
		})
	}
}

func TestApplyRefuses(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		usage bool
		want  []string // lines of the error; the file name is written FILE
	}{
		{
			name: "MissingFile", args: []string{"-db", "sqlite::memory:"}, usage: true,
			want: []string{"apply: -f FILE is required"},
		},
		{
			name: "NoSuchFile", args: []string{"-f", "nonexistent.json", "-db", "sqlite::memory:"},
			want: []string{"read workspace document: open nonexistent.json: no such file or directory"},
		},
		{
			name: "ServerWithoutToken", args: []string{"-f", "FILE", "-server", "http://127.0.0.1:1"}, usage: true,
			want: []string{"apply: -server needs -admin-token (or TANDEM_ADMIN_TOKEN)"},
		},
		{
			name: "ServerNotHTTP", args: []string{"-f", "FILE", "-server", "ftp://example.com", "-admin-token", "t"}, usage: true,
			want: []string{`apply: -server "ftp://example.com" is not an http(s) URL`},
		},
		{
			name: "ExtraArgument", args: []string{"-f", "FILE", "now"}, usage: true,
			want: []string{`apply: unexpected argument "now"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := writeDoc(t)
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "FILE", file)
			}
			out, err := applyRun(t, args, tc.env)
			if err == nil {
				t.Fatalf("apply succeeded: %s", out)
			}
			var u *usageError
			if got := errors.As(err, &u); got != tc.usage {
				t.Errorf("usage error = %v, want %v (err: %v)", got, tc.usage, err)
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), file, "FILE"), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

// TestApplyMalformedFile: shape errors are reported before anything is
// opened, each with its path.
func TestApplyMalformedFile(t *testing.T) {
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{
			name:  "Syntax",
			edits: []string{`"name": "acme",`, `"name": "acme"`},
			want:  []string{"FILE is not a valid workspace document:", "  malformed JSON at line 3, column 3: invalid character '\"' after object key:value pair"},
		},
		{
			name:  "UnknownFields",
			edits: []string{`"name": "web-login"`, `"nmae": "web-login"`, `"proximity": true`, `"proximty": true`},
			want: []string{
				"FILE is not a valid workspace document:",
				`  applications[0].nmae: unknown field "nmae"`,
				`  applications[1].mobile.proximty: unknown field "proximty"`,
			},
		},
		{
			name:  "DuplicateKey",
			edits: []string{`"name": "acme",`, `"name": "acme", "name": "acme",`},
			want:  []string{"FILE is not a valid workspace document:", `  name: field "name" appears twice; give it once`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := writeDoc(t, tc.edits...)
			dsn := sqliteDSN(t)
			_, err := applyRun(t, []string{"-f", file, "-db", dsn}, nil)
			if err == nil {
				t.Fatal("apply succeeded")
			}
			got := strings.Split(strings.ReplaceAll(err.Error(), file, "FILE"), "\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(strings.TrimPrefix(dsn, "sqlite:")); !os.IsNotExist(err) {
				t.Errorf("the database was created for a malformed file")
			}
		})
	}
}

func TestApplyRemoteRefused(t *testing.T) {
	s := start(t, []string{"serve", "-addr", "127.0.0.1:0", "-db", sqliteDSN(t), "-admin-token", "apply-test-admin-token"}, env(nil))
	t.Run("WrongToken", func(t *testing.T) {
		_, err := applyRun(t, []string{"-f", exampleFile, "-server", s.url, "-admin-token", "wrong-token-0123456789"}, nil)
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "The admin token is not valid.") {
			t.Errorf("err = %v, want a 401 that says the token is not valid", err)
		}
	})
	t.Run("TokenFromEnv", func(t *testing.T) {
		out, err := applyRun(t, []string{"-f", exampleFile, "-server", s.url}, map[string]string{"TANDEM_ADMIN_TOKEN": "apply-test-admin-token"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(out, "workspace acme is now at version 1\n") {
			t.Errorf("stdout = %q", out)
		}
	})
	t.Run("ServerWithTrailingSlash", func(t *testing.T) {
		out, err := applyRun(t, []string{"-f", exampleFile, "-server", s.url + "/", "-admin-token", "apply-test-admin-token"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if out != "no changes: workspace acme is up to date (version 1)\n" {
			t.Errorf("stdout = %q", out)
		}
	})
	t.Run("ServerDown", func(t *testing.T) {
		_, err := applyRun(t, []string{"-f", exampleFile, "-server", "http://127.0.0.1:1", "-admin-token", "x"}, nil)
		if err == nil || !strings.Contains(err.Error(), "apply to http://127.0.0.1:1") {
			t.Errorf("err = %v", err)
		}
	})
}
