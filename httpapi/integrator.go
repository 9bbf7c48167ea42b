package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
)

// CreateVerificationIn is the body of POST /v1/verifications.
type CreateVerificationIn struct {
	UserID         string          `json:"user_id" minLength:"1" maxLength:"256" doc:"Your identifier of the person to verify."`
	AllowNewDevice bool            `json:"allow_new_device,omitempty" doc:"true lets a phone that is not yet registered to this user pair and be registered during the flow."`
	Metadata       json.RawMessage `json:"metadata,omitempty" doc:"A JSON object of at most 16 KiB; rules see it as request.metadata."`
	RedirectURL    string          `json:"redirect_url,omitempty" doc:"Where the browser goes at the end; must be one of the application's redirect_urls."`
	IP             string          `json:"ip,omitempty" doc:"The end user's IP address, as your backend saw it."`
	UserAgent      string          `json:"user_agent,omitempty" doc:"The end user's browser user agent, as your backend saw it."`
}

// CreateVerificationOut is the answer to POST /v1/verifications.
type CreateVerificationOut struct {
	RequestID string    `json:"request_id"`
	URL       string    `json:"url" doc:"Send the person to this link. It is unguessable and works in one browser only."`
	ExpiresAt time.Time `json:"expires_at"`
	Status    string    `json:"status"`
}

// StepOut is one step of a verification.
type StepOut struct {
	Index       int        `json:"index"`
	Type        string     `json:"type"`
	DisplayName string     `json:"display_name"`
	Status      string     `json:"status" enum:"pending,running,passed,failed,skipped"`
	Reason      string     `json:"reason,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
}

// VerificationOut is the state of a verification.
type VerificationOut struct {
	RequestID  string     `json:"request_id"`
	Status     string     `json:"status" enum:"pending,in_progress,completed,failed,expired,cancelled"`
	Workflow   string     `json:"workflow"`
	UserID     string     `json:"user_id"`
	Reason     string     `json:"reason,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Steps      []StepOut  `json:"steps"`
}

type idPath struct {
	ID string `path:"request_id" maxLength:"64" doc:"The request_id returned when the verification was created."`
}

type rawCreate struct {
	RawBody []byte `contentType:"application/json"`
}

type resultOut struct {
	Status int
	Body   map[string]string
}

type appKey struct{}

// appFrom returns the application authenticated by the integrator
// middleware.
func appFrom(ctx context.Context) *tandem.AppRef {
	ref, _ := ctx.Value(appKey{}).(*tandem.AppRef)
	return ref
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func verificationOut(v *tandem.Verification) VerificationOut {
	out := VerificationOut{
		RequestID: v.ID, Status: string(v.Status), Workflow: v.Workflow, UserID: v.UserID, Reason: v.Reason,
		CreatedAt: v.CreatedAt, UpdatedAt: v.UpdatedAt, ExpiresAt: v.ExpiresAt, FinishedAt: optTime(v.FinishedAt),
		Steps: make([]StepOut, len(v.Steps)),
	}
	for i, s := range v.Steps {
		out.Steps[i] = StepOut{Index: s.Index, Type: s.Type, DisplayName: s.DisplayName, Status: string(s.Status), Reason: s.Reason, StartedAt: optTime(s.StartedAt), FinishedAt: optTime(s.FinishedAt)}
	}
	return out
}

func (s *Server) registerIntegrator() {
	api := s.api
	tags := []string{"verifications"}
	sec := []map[string][]string{{"client": {}}}

	huma.Register(api, huma.Operation{
		OperationID: "create-verification", Method: http.MethodPost, Path: "/v1/verifications",
		Summary:     "Start a verification",
		Description: "Starts a run of the application's workflow for one user and returns the link to send the person to. When the application's gatepass rule is false the request is refused with 403 and only an audit entry is stored. Too many verifications for one user_id (per application) are refused with 429 and Retry-After.",
		Tags:        tags, Security: sec, DefaultStatus: http.StatusCreated, SkipValidateBody: true, MaxBodyBytes: maxBody,
	}, func(ctx context.Context, in *rawCreate) (*body[CreateVerificationOut], error) {
		var req CreateVerificationIn
		if err := decodeBody(in.RawBody, &req); err != nil {
			return nil, err
		}
		creq := engine.CreateRequest{UserID: req.UserID, AllowNewDevice: req.AllowNewDevice, RedirectURL: req.RedirectURL, IP: req.IP, UserAgent: req.UserAgent}
		if len(req.Metadata) > 0 && string(req.Metadata) != "null" {
			if len(req.Metadata) > engine.MaxMetadata {
				return nil, huma.Error422UnprocessableEntity("The verification request is not valid.", &huma.ErrorDetail{Location: "body.metadata", Message: "metadata is larger than 16 KiB"})
			}
			if err := json.Unmarshal(req.Metadata, &creq.Metadata); err != nil || creq.Metadata == nil {
				return nil, huma.Error400BadRequest("The request body is not valid: body.metadata must be a JSON object.", &huma.ErrorDetail{Location: "body.metadata", Message: "must be a JSON object"})
			}
		}
		if ref := s.Clients.StartVerification(SurfaceIntegrator, appFrom(ctx), req.UserID); ref != nil {
			return nil, refusalError(ref)
		}
		created, err := s.Engine.Create(ctx, appFrom(ctx), creq, clientAddr(ctx))
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		v := created.Verification
		return &body[CreateVerificationOut]{Body: CreateVerificationOut{RequestID: v.ID, URL: created.URL, ExpiresAt: v.ExpiresAt, Status: string(v.Status)}}, nil
	})
	s.setBodySchema(http.MethodPost, "/v1/verifications", reflect.TypeFor[CreateVerificationIn]())

	huma.Register(api, huma.Operation{
		OperationID: "get-verification", Method: http.MethodGet, Path: "/v1/verifications/{request_id}",
		Summary: "Get a verification's status and steps", Tags: tags, Security: sec,
	}, func(ctx context.Context, in *idPath) (*body[VerificationOut], error) {
		v, err := s.Engine.Get(ctx, appFrom(ctx).ID, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &body[VerificationOut]{Body: verificationOut(v)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "get-verification-result", Method: http.MethodGet, Path: "/v1/verifications/{request_id}/result",
		Summary:     "Get a verification's result claims",
		Description: "While the verification runs: 202 with request_id and status. When it has ended: 200 with the flat claims object (every value a string; booleans \"true\"/\"false\"; times in Unix seconds).",
		Tags:        tags, Security: sec,
		Responses: map[string]*huma.Response{"202": {Description: "Not finished yet."}},
	}, func(ctx context.Context, in *idPath) (*resultOut, error) {
		v, err := s.Engine.Get(ctx, appFrom(ctx).ID, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if !v.Status.Terminal() {
			return &resultOut{Status: http.StatusAccepted, Body: map[string]string{"request_id": v.ID, "status": string(v.Status)}}, nil
		}
		return &resultOut{Status: http.StatusOK, Body: engine.Result(v)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "cancel-verification", Method: http.MethodPost, Path: "/v1/verifications/{request_id}/cancel",
		Summary: "Cancel a verification", Tags: tags, Security: sec,
	}, func(ctx context.Context, in *idPath) (*body[VerificationOut], error) {
		v, err := s.Engine.Cancel(ctx, appFrom(ctx).ID, in.ID, clientAddr(ctx))
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &body[VerificationOut]{Body: verificationOut(v)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "list-verification-audit", Method: http.MethodGet, Path: "/admin/v1/workspaces/{workspace}/verifications/{request_id}/audit",
		Summary: "List the audit log of a verification", Tags: []string{"admin"}, Security: []map[string][]string{{"admin": {}}},
	}, func(ctx context.Context, in *struct {
		Workspace string `path:"workspace" maxLength:"63"`
		ID        string `path:"request_id" maxLength:"64"`
	}) (*body[[]tandem.AuditEvent], error) {
		v, err := s.Verifications.GetVerification(ctx, in.ID)
		if err != nil || v.Workspace != in.Workspace {
			if err == nil || tandem.ErrorCode(err) == tandem.ENOTFOUND {
				return nil, s.problem(ctx, tandem.Errorf(tandem.ENOTFOUND, "Verification %q not found in workspace %q.", in.ID, in.Workspace))
			}
			return nil, s.problem(ctx, err)
		}
		evs, err := s.Verifications.ListAudit(ctx, in.ID)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if evs == nil {
			evs = []tandem.AuditEvent{}
		}
		return &body[[]tandem.AuditEvent]{Body: evs}, nil
	})
}

type addrKey struct{}

func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(addrKey{}).(string)
	return a
}
