package httpapi

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tandem-id/tandem"
)

// WorkspaceSummary is a workspace in a listing.
type WorkspaceSummary struct {
	Name         string    `json:"name"`
	Version      int64     `json:"version"`
	Applications int       `json:"applications"`
	Workflows    int       `json:"workflows"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// WorkspaceOut is a whole stored workspace: the declarative document in its
// normalized form (defaults filled in) and its version.
type WorkspaceOut struct {
	Name         string               `json:"name"`
	Version      int64                `json:"version"`
	CreatedAt    time.Time            `json:"created_at"`
	UpdatedAt    time.Time            `json:"updated_at"`
	Applications []tandem.Application `json:"applications"`
	Workflows    []tandem.Workflow    `json:"workflows"`
}

// ApplyOut tells what a change did.
type ApplyOut struct {
	Workspace string          `json:"workspace"`
	Version   int64           `json:"version"`
	Changed   bool            `json:"changed"`
	Changes   []tandem.Change `json:"changes"`
	Summary   string          `json:"summary" doc:"One line for people, e.g. 'no changes: workspace acme is up to date (version 3)'."`
}

// SecretOut is a newly issued client secret. The secret is shown only here.
type SecretOut struct {
	ClientID                string     `json:"client_id"`
	ClientSecret            string     `json:"client_secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty" doc:"When the secret this one replaces stops working; absent on the first issue."`
}

type wsPath struct {
	Workspace string `path:"workspace" doc:"Workspace name." maxLength:"63"`
}

type itemPath struct {
	Workspace string `path:"workspace" doc:"Workspace name." maxLength:"63"`
	Name      string `path:"name" doc:"Application or workflow name." maxLength:"63"`
}

type rawPut struct {
	Workspace string `path:"workspace" maxLength:"63"`
	IfMatch   string `header:"If-Match" required:"false" doc:"Apply only if the workspace is at this version (as returned in ETag); 0 means it must not exist yet."`
	RawBody   []byte `contentType:"application/json"`
}

type rawItemPut struct {
	Workspace string `path:"workspace" maxLength:"63"`
	Name      string `path:"name" maxLength:"63"`
	RawBody   []byte `contentType:"application/json"`
}

type body[T any] struct {
	ETag string `header:"ETag"`
	Body T
}

// secretBody carries a secret, which no cache may keep.
type secretBody struct {
	CacheControl string `header:"Cache-Control"`
	Body         SecretOut
}

func summary(name string, res *tandem.ApplyResult) ApplyOut {
	out := ApplyOut{Workspace: name, Version: res.Version, Changed: len(res.Changes) > 0, Changes: res.Changes}
	if out.Changes == nil {
		out.Changes = []tandem.Change{}
	}
	if !out.Changed {
		out.Summary = "no changes: workspace " + name + " is up to date (version " + strconv.FormatInt(res.Version, 10) + ")"
	} else {
		parts := make([]string, len(res.Changes))
		for i, c := range res.Changes {
			parts[i] = c.String()
		}
		out.Summary = strings.Join(parts, "; ") + " (version " + strconv.FormatInt(res.Version, 10) + ")"
	}
	return out
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

func (s *Server) registerAdmin() {
	api := s.api
	tags := []string{"admin"}
	sec := []map[string][]string{{"admin": {}}}

	huma.Register(api, huma.Operation{
		OperationID: "list-workspaces", Method: http.MethodGet, Path: "/admin/v1/workspaces",
		Summary: "List workspaces", Tags: tags, Security: sec,
	}, func(ctx context.Context, _ *struct{}) (*body[[]WorkspaceSummary], error) {
		list, err := s.Workspaces.ListWorkspaces(ctx)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := make([]WorkspaceSummary, 0, len(list))
		for _, ws := range list {
			out = append(out, WorkspaceSummary{Name: ws.Doc.Name, Version: ws.Version, Applications: len(ws.Doc.Applications), Workflows: len(ws.Doc.Workflows), CreatedAt: ws.CreatedAt, UpdatedAt: ws.UpdatedAt})
		}
		return &body[[]WorkspaceSummary]{Body: out}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-workspace", Method: http.MethodGet, Path: "/admin/v1/workspaces/{workspace}",
		Summary: "Get a workspace as a declarative document", Tags: tags, Security: sec,
	}, func(ctx context.Context, in *wsPath) (*body[WorkspaceOut], error) {
		ws, err := s.Workspaces.GetWorkspace(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &body[WorkspaceOut]{ETag: etag(ws.Version), Body: WorkspaceOut{
			Name: ws.Doc.Name, Version: ws.Version, CreatedAt: ws.CreatedAt, UpdatedAt: ws.UpdatedAt,
			Applications: ws.Doc.Applications, Workflows: ws.Doc.Workflows,
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "put-workspace", Method: http.MethodPut, Path: "/admin/v1/workspaces/{workspace}",
		Summary:     "Create or replace a whole workspace",
		Description: "Takes the whole declarative document (the same one `tandem apply -f` reads). Idempotent: applying the same document twice changes nothing and says so.",
		Tags:        tags, Security: sec, SkipValidateBody: true, MaxBodyBytes: maxBody,
	}, func(ctx context.Context, in *rawPut) (*body[ApplyOut], error) {
		var doc tandem.WorkspaceDoc
		if err := decodeBody(in.RawBody, &doc); err != nil {
			return nil, err
		}
		if doc.Name == "" {
			doc.Name = in.Workspace
		} else if doc.Name != in.Workspace {
			return nil, huma.Error400BadRequest("The document's name does not match the URL.", &huma.ErrorDetail{Location: "body.name", Message: "name " + strconv.Quote(doc.Name) + " differs from the workspace in the URL, " + strconv.Quote(in.Workspace) + "; make them equal or leave name out"})
		}
		ifVersion := tandem.AnyVersion
		if in.IfMatch != "" {
			v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(in.IfMatch, "W/"), `"`), 10, 64)
			if err != nil || v < 0 {
				return nil, huma.Error400BadRequest("If-Match must be a workspace version such as \"3\".", &huma.ErrorDetail{Location: "header.If-Match", Message: "not a version number"})
			}
			ifVersion = v
		}
		res, err := s.Validator.Apply(ctx, s.Workspaces, doc, ifVersion)
		if err != nil {
			return nil, s.problem(ctx, prefixFields(err, "body"))
		}
		return &body[ApplyOut]{ETag: etag(res.Version), Body: summary(doc.Name, res)}, nil
	})
	s.setBodySchema(http.MethodPut, "/admin/v1/workspaces/{workspace}", reflect.TypeFor[tandem.WorkspaceDoc]())

	huma.Register(api, huma.Operation{
		OperationID: "delete-workspace", Method: http.MethodDelete, Path: "/admin/v1/workspaces/{workspace}",
		Summary: "Delete a workspace and everything it owns", Tags: tags, Security: sec, DefaultStatus: http.StatusNoContent,
	}, func(ctx context.Context, in *wsPath) (*struct{}, error) {
		if err := s.Workspaces.DeleteWorkspace(ctx, in.Workspace); err != nil {
			return nil, s.problem(ctx, err)
		}
		return nil, nil
	})

	registerItems(s, "application", "applications",
		func(d *tandem.WorkspaceDoc) *[]tandem.Application { return &d.Applications },
		func(a tandem.Application) string { return a.Name },
		func(a *tandem.Application, name string) { a.Name = name })
	registerItems(s, "workflow", "workflows",
		func(d *tandem.WorkspaceDoc) *[]tandem.Workflow { return &d.Workflows },
		func(w tandem.Workflow) string { return w.Name },
		func(w *tandem.Workflow, name string) { w.Name = name })

	huma.Register(api, huma.Operation{
		OperationID: "issue-secret", Method: http.MethodPost, Path: "/admin/v1/workspaces/{workspace}/applications/{name}/secrets",
		Summary:     "Issue or rotate an application's client secret",
		Description: "The first call creates the application's client id and secret. Each later call issues a new secret; the previous one keeps working for the configured grace period. The secret is shown only in this response and stored only as a hash.",
		Tags:        tags, Security: sec, DefaultStatus: http.StatusCreated,
	}, func(ctx context.Context, in *itemPath) (*secretBody, error) {
		cred, err := IssueSecret(ctx, s.Workspaces, in.Workspace, in.Name, s.Now(), s.SecretGrace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := SecretOut{ClientID: cred.ClientID, ClientSecret: cred.ClientSecret}
		if !cred.PreviousValidUntil.IsZero() {
			out.PreviousSecretExpiresAt = &cred.PreviousValidUntil
		}
		return &secretBody{CacheControl: "no-store", Body: out}, nil
	})
}

// IssueSecret issues a new client secret for an application, creating its
// client id on first use; earlier secrets stay valid for grace.
func IssueSecret(ctx context.Context, st tandem.WorkspaceStore, workspace, app string, now time.Time, grace time.Duration) (*tandem.Credential, error) {
	ref, err := st.GetApplication(ctx, workspace, app)
	if err != nil {
		return nil, err
	}
	cred := &tandem.Credential{ClientID: ref.ClientID, ClientSecret: tandem.NewSecret(tandem.PrefixClientSecret)}
	if cred.ClientID == "" {
		cred.ClientID = tandem.NewID()
	} else {
		cred.PreviousValidUntil = now.Add(grace)
	}
	if err := st.PutSecret(ctx, ref.ID, cred.ClientID, tandem.HashSecret(cred.ClientSecret), now, now.Add(grace)); err != nil {
		return nil, err
	}
	return cred, nil
}

// registerItems registers list, get, put and delete for one kind of named
// item of a workspace document. Every change goes through the whole-document
// validation, so an edit that would break another part is refused.
func registerItems[T any](s *Server, kind, plural string, items func(*tandem.WorkspaceDoc) *[]T, nameOf func(T) string, setName func(*T, string)) {
	api := s.api
	tags := []string{"admin"}
	sec := []map[string][]string{{"admin": {}}}
	base := "/admin/v1/workspaces/{workspace}/" + plural

	huma.Register(api, huma.Operation{
		OperationID: "list-" + plural, Method: http.MethodGet, Path: base,
		Summary: "List " + plural, Tags: tags, Security: sec,
	}, func(ctx context.Context, in *wsPath) (*body[[]T], error) {
		ws, err := s.Workspaces.GetWorkspace(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		out := *items(&ws.Doc)
		if out == nil {
			out = []T{}
		}
		return &body[[]T]{ETag: etag(ws.Version), Body: out}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-" + kind, Method: http.MethodGet, Path: base + "/{name}",
		Summary: "Get one " + kind, Tags: tags, Security: sec,
	}, func(ctx context.Context, in *itemPath) (*body[T], error) {
		ws, err := s.Workspaces.GetWorkspace(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		for _, it := range *items(&ws.Doc) {
			if nameOf(it) == in.Name {
				return &body[T]{ETag: etag(ws.Version), Body: it}, nil
			}
		}
		return nil, s.problem(ctx, tandem.Errorf(tandem.ENOTFOUND, "%s %q not found in workspace %q", kind, in.Name, in.Workspace))
	})

	huma.Register(api, huma.Operation{
		OperationID: "put-" + kind, Method: http.MethodPut, Path: base + "/{name}",
		Summary:     "Create or replace one " + kind,
		Description: "The whole workspace is validated with the change, so a change that would break a reference elsewhere is refused with the path of the problem.",
		Tags:        tags, Security: sec, SkipValidateBody: true, MaxBodyBytes: maxBody,
	}, func(ctx context.Context, in *rawItemPut) (*body[ApplyOut], error) {
		var item T
		if err := decodeBody(in.RawBody, &item); err != nil {
			return nil, err
		}
		if n := nameOf(item); n == "" {
			setName(&item, in.Name)
		} else if n != in.Name {
			return nil, huma.Error400BadRequest("The "+kind+"'s name does not match the URL.", &huma.ErrorDetail{Location: "body.name", Message: "name " + strconv.Quote(n) + " differs from the URL, " + strconv.Quote(in.Name) + "; make them equal or leave name out"})
		}
		idx := -1
		res, err := s.Validator.Update(ctx, s.Workspaces, in.Workspace, func(doc *tandem.WorkspaceDoc) error {
			list := items(doc)
			idx = slices.IndexFunc(*list, func(it T) bool { return nameOf(it) == in.Name })
			if idx < 0 {
				*list = append(*list, item)
				idx = len(*list) - 1
			} else {
				(*list)[idx] = item
			}
			return nil
		})
		if err != nil {
			return nil, s.problem(ctx, itemFields(err, plural, idx))
		}
		return &body[ApplyOut]{ETag: etag(res.Version), Body: summary(in.Workspace, res)}, nil
	})
	s.setBodySchema(http.MethodPut, base+"/{name}", reflect.TypeFor[T]())

	huma.Register(api, huma.Operation{
		OperationID: "delete-" + kind, Method: http.MethodDelete, Path: base + "/{name}",
		Summary: "Delete one " + kind, Tags: tags, Security: sec,
	}, func(ctx context.Context, in *itemPath) (*body[ApplyOut], error) {
		res, err := s.Validator.Update(ctx, s.Workspaces, in.Workspace, func(doc *tandem.WorkspaceDoc) error {
			list := items(doc)
			i := slices.IndexFunc(*list, func(it T) bool { return nameOf(it) == in.Name })
			if i < 0 {
				return tandem.Errorf(tandem.ENOTFOUND, "%s %q not found in workspace %q", kind, in.Name, in.Workspace)
			}
			*list = slices.Delete(*list, i, i+1)
			return nil
		})
		if err != nil {
			return nil, s.problem(ctx, itemFields(err, plural, -1))
		}
		return &body[ApplyOut]{ETag: etag(res.Version), Body: summary(in.Workspace, res)}, nil
	})
}

// itemFields rewrites the document paths of a validation error so that the
// problems of the item that was sent point into the request body
// ("applications[2].mobile" becomes "body.mobile") and the others name the
// workspace document ("workspace.workflows[0]...").
func itemFields(err error, plural string, idx int) error {
	fields := tandem.ErrorFields(err)
	if len(fields) == 0 {
		return err
	}
	own := plural + "[" + strconv.Itoa(idx) + "]"
	out := &tandem.Error{Code: tandem.ErrorCode(err), Message: tandem.ErrorMessage(err)}
	for _, f := range fields {
		switch {
		case idx >= 0 && f.Path == own:
			f.Path = "body"
		case idx >= 0 && strings.HasPrefix(f.Path, own+"."):
			f.Path = "body." + strings.TrimPrefix(f.Path, own+".")
		default:
			f.Path = "workspace." + f.Path
		}
		out.Fields = append(out.Fields, f)
	}
	return out
}

// setBodySchema documents the JSON body of an operation that reads its body
// raw (to decode it strictly with field paths) as the schema of t.
func (s *Server) setBodySchema(method, path string, t reflect.Type) {
	oapi := s.api.OpenAPI()
	item := oapi.Paths[path]
	if item == nil {
		return
	}
	var op *huma.Operation
	switch method {
	case http.MethodPut:
		op = item.Put
	case http.MethodPost:
		op = item.Post
	}
	if op == nil || op.RequestBody == nil {
		return
	}
	schema := oapi.Components.Schemas.Schema(t, true, "")
	op.RequestBody.Content = map[string]*huma.MediaType{"application/json": {Schema: schema}}
}
