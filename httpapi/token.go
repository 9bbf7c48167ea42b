package httpapi

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-jose/go-jose/v4"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/engine"
)

// TokenTTL is the lifetime of a result token.
const TokenTTL = 10 * time.Minute

// maxRetireAfter caps how long a rotated key stays published.
const maxRetireAfter = 365 * 24 * time.Hour

// defaultRetireAfter is how long a rotated key stays published when the
// request does not say.
const defaultRetireAfter = 24 * time.Hour

// JWK is a public JSON Web Key of a workspace.
type JWK struct {
	Kty string `json:"kty" enum:"EC"`
	Crv string `json:"crv" enum:"P-256"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Kid string `json:"kid" doc:"Key id: the RFC 7638 SHA-256 thumbprint of the key."`
	Use string `json:"use" enum:"sig"`
	Alg string `json:"alg" enum:"ES256"`
}

// JWKSOut is a JSON Web Key Set.
type JWKSOut struct {
	Keys []JWK `json:"keys"`
}

// TokenOut is a signed result token.
type TokenOut struct {
	Token     string `json:"token" doc:"A JWT (ES256) signed by the workspace's active key; verify it with the keys at {public-url}/w/{workspace}/.well-known/jwks.json."`
	TokenType string `json:"token_type" enum:"JWT"`
	ExpiresIn int    `json:"expires_in" doc:"Seconds until the token's exp."`
}

// KeyOut is a signing key of a workspace, without its private material.
type KeyOut struct {
	KID       string     `json:"kid"`
	Alg       string     `json:"alg"`
	CreatedAt time.Time  `json:"created_at"`
	RetireAt  *time.Time `json:"retire_at,omitempty" doc:"When the key leaves the JWKS; absent for the active key."`
	Active    bool       `json:"active" doc:"Whether the key signs new tokens."`
}

// RotateIn is the body of a key rotation.
type RotateIn struct {
	RetireAfterS *int `json:"retire_after_s,omitempty" minimum:"0" maximum:"31536000" doc:"How long the replaced keys stay in the JWKS, so that tokens they signed keep verifying; default 86400 (one day). 0 removes them at once, which invalidates tokens they signed."`
}

// RotateOut tells what a rotation did.
type RotateOut struct {
	KID                  string    `json:"kid" doc:"The new active key."`
	CreatedAt            time.Time `json:"created_at"`
	PreviousKeysRetireAt time.Time `json:"previous_keys_retire_at" doc:"When the replaced keys leave the JWKS (a key already retiring earlier keeps its time)."`
	Keys                 []KeyOut  `json:"keys" doc:"The workspace's published keys after the rotation, newest first."`
}

type rawRotate struct {
	Workspace string `path:"workspace" maxLength:"63"`
	RawBody   []byte `contentType:"application/json"`
}

type jwksOut struct {
	CacheControl string `header:"Cache-Control"`
	Body         JWKSOut
}

type tokenOut struct {
	CacheControl string `header:"Cache-Control"`
	Body         TokenOut
}

// registeredClaims are the JWT claim names of RFC 7519 §4.1. A result claim
// of the same name never replaces them.
var registeredClaims = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti"}

// ResultClaims returns the claims of a result token: the registered claims
// (iss, aud, sub = the user id, iat = now, exp = now+ttl, jti = the
// request id) and the flat claims of engine.Result, every one a string.
// A result claim whose name is a registered claim is left out; its name is
// returned in dropped.
func ResultClaims(v *tandem.Verification, issuer, audience string, now time.Time, ttl time.Duration) (claims map[string]any, dropped []string) {
	claims, dropped = FlatClaims(v)
	maps.Copy(claims, map[string]any{
		"iss": issuer, "aud": audience, "sub": v.UserID,
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": v.ID,
	})
	return claims, dropped
}

// FlatClaims returns the flat claims of engine.Result, every one a string,
// without those whose names are registered JWT claims (iss, sub, aud, exp,
// nbf, iat, jti), which a result claim never replaces: their names are
// returned, sorted, in dropped.
func FlatClaims(v *tandem.Verification) (claims map[string]any, dropped []string) {
	claims = map[string]any{}
	for name, value := range engine.Result(v) {
		if slices.Contains(registeredClaims, name) {
			dropped = append(dropped, name)
			continue
		}
		claims[name] = value
	}
	slices.Sort(dropped)
	return claims, dropped
}

// Issuer returns the iss of a workspace's tokens: publicURL/w/workspace.
func Issuer(publicURL, workspace string) string { return publicURL + "/w/" + workspace }

func keyOut(k tandem.SigningKey) KeyOut {
	return KeyOut{KID: k.KID, Alg: k.Alg, CreatedAt: k.CreatedAt, RetireAt: optTime(k.RetireAt), Active: k.Active()}
}

func keysOut(list []tandem.SigningKey) []KeyOut {
	out := make([]KeyOut, 0, len(list))
	for _, k := range list {
		out = append(out, keyOut(k))
	}
	return out
}

// jwksBody converts a key set to its documented form.
func jwksBody(set jose.JSONWebKeySet) (JWKSOut, error) {
	out := JWKSOut{Keys: make([]JWK, 0, len(set.Keys))}
	for _, k := range set.Keys {
		b, err := k.MarshalJSON()
		if err != nil {
			return JWKSOut{}, err
		}
		var j JWK
		if err := json.Unmarshal(b, &j); err != nil {
			return JWKSOut{}, err
		}
		out.Keys = append(out.Keys, j)
	}
	return out, nil
}

// registerKeys registers the JWKS of each workspace, the result token of
// the integrator API (when an engine is set) and the key administration.
func (s *Server) registerKeys() {
	huma.Register(s.api, huma.Operation{
		OperationID: "get-workspace-jwks", Method: http.MethodGet, Path: "/w/{workspace}/.well-known/jwks.json",
		Summary:     "Get a workspace's public signing keys (JWKS)",
		Description: "The JSON Web Key Set that verifies the workspace's result tokens: the active key and the keys replaced by a rotation until their retire time. Public; may be cached for 5 minutes. A workspace's first key is generated on first use.",
		Tags:        []string{"keys"},
	}, func(ctx context.Context, in *wsPath) (*jwksOut, error) {
		set, err := s.Keys.JWKS(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		b, err := jwksBody(set)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &jwksOut{CacheControl: "public, max-age=300", Body: b}, nil
	})

	if s.Engine != nil {
		huma.Register(s.api, huma.Operation{
			OperationID: "get-verification-token", Method: http.MethodGet, Path: "/v1/verifications/{request_id}/token",
			Summary: "Get a verification's result as a signed JWT",
			Description: "When the verification has ended: a JWT (ES256, header kid and typ JWT) signed by the workspace's active key, valid 10 minutes. " +
				"Its claims are iss ({public-url}/w/{workspace}), aud (your client id), sub (the user_id), iat, exp, jti (the request_id) " +
				"and every claim of the /result endpoint (all strings); a result claim never replaces one of those registered names. " +
				"Each call issues a new token. While the verification runs: 409.",
			Tags: []string{"verifications"}, Security: []map[string][]string{{"client": {}}},
		}, func(ctx context.Context, in *idPath) (*tokenOut, error) {
			app := appFrom(ctx)
			v, err := s.Engine.Get(ctx, app.ID, in.ID)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			if !v.Status.Terminal() {
				return nil, s.problem(ctx, tandem.Errorf(tandem.ECONFLICT, "Verification %q has not finished (status %s); its token is issued when it has ended.", v.ID, v.Status))
			}
			claims, dropped := ResultClaims(v, Issuer(s.Engine.PublicURL, v.Workspace), app.ClientID, s.Now(), TokenTTL)
			if len(dropped) > 0 {
				s.Logger.WarnContext(ctx, "result claims with registered JWT names left out of the token", "request_id", v.ID, "claims", dropped)
			}
			tok, err := s.Keys.SignJWT(ctx, v.Workspace, claims)
			if err != nil {
				return nil, s.problem(ctx, err)
			}
			return &tokenOut{CacheControl: "no-store", Body: TokenOut{Token: tok, TokenType: "JWT", ExpiresIn: int(TokenTTL / time.Second)}}, nil
		})
	}

	tags := []string{"admin"}
	sec := []map[string][]string{{"admin": {}}}
	const rotatePath = "/admin/v1/workspaces/{workspace}/keys/rotate"
	huma.Register(s.api, huma.Operation{
		OperationID: "list-keys", Method: http.MethodGet, Path: "/admin/v1/workspaces/{workspace}/keys",
		Summary:     "List a workspace's signing keys",
		Description: "The published keys, newest first: the active key and the replaced keys that have not reached their retire time. Private material is never shown.",
		Tags:        tags, Security: sec,
	}, func(ctx context.Context, in *wsPath) (*body[[]KeyOut], error) {
		list, err := s.Keys.Keys(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &body[[]KeyOut]{Body: keysOut(list)}, nil
	})

	huma.Register(s.api, huma.Operation{
		OperationID: "rotate-keys", Method: http.MethodPost, Path: rotatePath,
		Summary:     "Rotate a workspace's signing key",
		Description: "A new key signs from now on. The keys it replaces stay in the JWKS for retire_after_s (default one day), so that tokens they signed keep verifying. The body is optional.",
		Tags:        tags, Security: sec, SkipValidateBody: true, MaxBodyBytes: maxBody,
	}, func(ctx context.Context, in *rawRotate) (*body[RotateOut], error) {
		var req RotateIn
		if len(in.RawBody) > 0 {
			if err := decodeBody(in.RawBody, &req); err != nil {
				return nil, err
			}
		}
		after := defaultRetireAfter
		if req.RetireAfterS != nil {
			// Check the seconds before converting them: a huge value
			// (e.g. 2^55) overflows time.Duration into range.
			after = time.Duration(*req.RetireAfterS) * time.Second
			if *req.RetireAfterS < 0 || *req.RetireAfterS > int(maxRetireAfter/time.Second) {
				return nil, huma.Error422UnprocessableEntity("The rotation request is not valid.", &huma.ErrorDetail{Location: "body.retire_after_s", Message: "must be between 0 and 31536000 (one year)"})
			}
		}
		k, retireAt, err := s.Keys.Rotate(ctx, in.Workspace, after)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		if s.Verifications != nil {
			detail, _ := jsonMarshal(map[string]any{"kid": k.KID, "previous_keys_retire_at": retireAt.Unix()})
			if err := s.Verifications.AddAudit(ctx, tandem.AuditEvent{Workspace: in.Workspace, Actor: tandem.ActorAdmin, Action: "keys.rotated", Detail: detail, Addr: clientAddr(ctx), At: s.Now()}); err != nil {
				s.Logger.ErrorContext(ctx, "audit of a key rotation failed", "workspace", in.Workspace, "err", err)
			}
		}
		list, err := s.Keys.Keys(ctx, in.Workspace)
		if err != nil {
			return nil, s.problem(ctx, err)
		}
		return &body[RotateOut]{Body: RotateOut{KID: k.KID, CreatedAt: k.CreatedAt, PreviousKeysRetireAt: retireAt, Keys: keysOut(list)}}, nil
	})
	s.setBodySchema(http.MethodPost, rotatePath, reflect.TypeFor[RotateIn]())
	// The body is optional. huma marks a raw body required; the flag lives
	// in the operation's RequestBody, which the handler shares.
	if item := s.api.OpenAPI().Paths[rotatePath]; item != nil && item.Post != nil && item.Post.RequestBody != nil {
		item.Post.RequestBody.Required = false
	}
}
