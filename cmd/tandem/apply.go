package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/strictjson"
)

// runApply applies a workspace document, either straight to the database
// (-db) or through a running server's admin API (-server).
func runApply(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("f", "", "workspace document to apply (JSON); - for standard input")
	server := fs.String("server", "", "apply through this server's admin API (`URL`) instead of opening the database")
	adminToken := fs.String("admin-token", "", "admin token for -server")
	db := fs.String("db", "sqlite:tandem.db", "database to apply to when -server is not given")
	if err := parseFlags(fs, args, getenv, "admin-token"); err != nil {
		return err
	}
	if *file == "" {
		return &usageError{msg: "apply: -f FILE is required"}
	}
	var raw []byte
	var err error
	if *file == "-" {
		raw, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	} else {
		raw, err = os.ReadFile(*file)
	}
	if err != nil {
		return fmt.Errorf("read workspace document: %w", err)
	}
	var doc tandem.WorkspaceDoc
	if errs := strictjson.Decode(raw, &doc, ""); len(errs) > 0 {
		return fieldErrors(*file, "is not a valid workspace document", errs)
	}

	var res *tandem.ApplyResult
	if *server != "" {
		if *adminToken == "" {
			return &usageError{msg: "apply: -server needs -admin-token (or TANDEM_ADMIN_TOKEN)"}
		}
		res, err = applyRemote(ctx, *server, *adminToken, doc, raw)
	} else {
		res, err = applyLocal(ctx, *db, doc)
	}
	if err != nil {
		if f := tandem.ErrorFields(err); len(f) > 0 {
			return fieldErrors(*file, "was refused", f)
		}
		return err
	}
	printApply(stdout, doc.Name, res)
	return nil
}

func applyLocal(ctx context.Context, dsn string, doc tandem.WorkspaceDoc) (*tandem.ApplyResult, error) {
	db, err := openDB(ctx, dsn, discardLogger())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	env, err := rules.NewEnv()
	if err != nil {
		return nil, err
	}
	v := &spec.Validator{Modules: all.Registry(), Rules: env}
	return v.Apply(ctx, db, doc, tandem.AnyVersion)
}

// applyRemote PUTs the document to the admin API and turns a problem
// response back into a *tandem.Error.
func applyRemote(ctx context.Context, server, token string, doc tandem.WorkspaceDoc, raw []byte) (*tandem.ApplyResult, error) {
	if doc.Name == "" {
		return nil, &tandem.Error{Code: tandem.EINVALID, Message: "name is required", Fields: []tandem.FieldError{{Path: "name", Message: "name is required: give the workspace a name"}}}
	}
	u, err := url.Parse(strings.TrimSuffix(server, "/") + "/admin/v1/workspaces/" + url.PathEscape(doc.Name))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &usageError{msg: fmt.Sprintf("apply: -server %q is not an http(s) URL", server)}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u.String(), bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("apply to %s: %w", server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("apply to %s: read response: %w", server, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Detail string `json:"detail"`
			Errors []struct {
				Location string `json:"location"`
				Message  string `json:"message"`
			} `json:"errors"`
		}
		if json.Unmarshal(body, &p) != nil || p.Detail == "" {
			return nil, fmt.Errorf("apply to %s: %s", server, resp.Status)
		}
		e := &tandem.Error{Code: tandem.EINVALID, Message: p.Detail}
		for _, fe := range p.Errors {
			e.Fields = append(e.Fields, tandem.FieldError{Path: strings.TrimPrefix(strings.TrimPrefix(fe.Location, "body"), "."), Message: fe.Message})
		}
		if len(e.Fields) == 0 {
			return nil, fmt.Errorf("apply to %s: %s: %s", server, resp.Status, p.Detail)
		}
		return nil, e
	}
	var out struct {
		Version int64           `json:"version"`
		Changes []tandem.Change `json:"changes"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("apply to %s: unexpected response: %w", server, err)
	}
	return &tandem.ApplyResult{Version: out.Version, Changes: out.Changes}, nil
}

func printApply(w io.Writer, name string, res *tandem.ApplyResult) {
	if len(res.Changes) == 0 {
		fmt.Fprintf(w, "no changes: workspace %s is up to date (version %d)\n", name, res.Version)
		return
	}
	for _, c := range res.Changes {
		fmt.Fprintln(w, c.String())
	}
	fmt.Fprintf(w, "workspace %s is now at version %d\n", name, res.Version)
}

// fieldErrors formats field errors for a terminal, one per line.
func fieldErrors(file, what string, errs []tandem.FieldError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s:", file, what)
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s", e.Error())
	}
	return fmt.Errorf("%s", b.String())
}
