package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/ratelimit"
)

// Surfaces and limit names in refusals and metrics.
const (
	SurfaceIntegrator = "integrator"
	SurfaceAdmin      = "admin"
	SurfaceCIBA       = "ciba"

	LimitAddress     = "address"
	LimitApplication = "application"
	LimitUser        = "user"
	LimitAuthLockout = "auth_lockout"
)

// appRateTTL is how long the rate of an application is cached: a changed
// rate_limit applies within this time.
const appRateTTL = 5 * time.Second

// maxCachedRates bounds the cache of application rates.
const maxCachedRates = 1 << 14

// Clients authenticates applications and limits their calls. One value is
// shared by the integrator API and the CIBA endpoints, so that an
// application, a user and an address have one budget across both:
//
//   - per client address, a lockout after repeated wrong credentials
//     (audited when it starts);
//   - per application, its rate_limit, or Limits.Application when it sets
//     none;
//   - per application and user_id, the verifications started
//     (Limits.User).
type Clients struct {
	ws      tandem.WorkspaceStore
	audit   tandem.VerificationStore
	logger  *slog.Logger
	guard   *ratelimit.Guard
	def     ratelimit.Rate
	app     *ratelimit.Limit
	user    *ratelimit.Limit
	lockout *ratelimit.AuthLockout

	mu    sync.Mutex
	rates map[string]cachedRate // by application id
}

type cachedRate struct {
	rate    ratelimit.Rate
	expires time.Time
}

// NewClients returns the client checks of the limits of g (nil: the
// defaults). Refused credentials and lockouts are logged with logger and
// audited in audit when it is not nil.
func NewClients(ws tandem.WorkspaceStore, audit tandem.VerificationStore, logger *slog.Logger, g *ratelimit.Guard) *Clients {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := g.Config()
	return &Clients{
		ws: ws, audit: audit, logger: logger, guard: g, def: cfg.Application,
		app:     g.Limit(LimitApplication, cfg.Application, "requests for this application"),
		user:    g.Limit(LimitUser, cfg.User, "verifications started for this user"),
		lockout: g.Lockout(LimitAuthLockout, cfg.LockoutFailures, cfg.LockoutPeriod, "failed authentications from this address"),
		rates:   map[string]cachedRate{},
	}
}

// Authenticate checks the client id and secret of a request from the
// client address addr on surface, then the application's rate. It returns
// the application; a *ratelimit.Refusal when addr is locked out or the
// application is over its rate; an EUNAUTHORIZED error for wrong
// credentials (counted towards the lockout of addr); or another error when
// the lookup failed.
func (c *Clients) Authenticate(ctx context.Context, surface, id, secret, addr string) (*tandem.AppRef, error) {
	if ref := c.lockout.Check(surface, addr); ref != nil {
		return nil, ref
	}
	now := c.guard.Time()
	app, err := CheckClient(ctx, c.ws, c.audit, c.logger, id, secret, addr, now)
	if tandem.ErrorCode(err) == tandem.EUNAUTHORIZED {
		if c.lockout.Fail(addr) {
			c.lockedOut(ctx, surface, addr, now, id)
		}
		return nil, err
	} else if err != nil {
		return nil, err
	}
	if ref := c.app.AllowRate(surface, app.ID, c.appRate(ctx, app, now)); ref != nil {
		return nil, ref
	}
	return app, nil
}

// lockedOut logs and audits the start of a lockout of addr. The audit
// event belongs to the workspace of the client id that was tried, when
// it is known.
func (c *Clients) lockedOut(ctx context.Context, surface, addr string, now time.Time, clientID string) {
	c.logger.Warn("address locked out after failed client authentications", "surface", surface, "addr", addr, "for", c.lockout.Period())
	if c.audit == nil {
		return
	}
	ev := tandem.AuditEvent{Actor: tandem.ActorAPI, Action: "locked_out.credentials", Addr: addr, At: now}
	if len(clientID) <= 64 {
		if ref, _, err := c.ws.ApplicationByClientID(ctx, clientID, now); err == nil {
			ev.Workspace = ref.Workspace
		}
	}
	ev.Detail, _ = jsonMarshal(map[string]any{"surface": surface, "client_id": clientID, "lockout_s": int(c.lockout.Period().Seconds())})
	if err := c.audit.AddAudit(ctx, ev); err != nil {
		c.logger.ErrorContext(ctx, "audit of a lockout failed", "err", err)
	}
}

// StartVerification takes a token from the budget of verifications of
// user userID of the application app, and returns the refusal when it is
// spent.
func (c *Clients) StartVerification(surface string, app *tandem.AppRef, userID string) *ratelimit.Refusal {
	return c.user.Allow(surface, app.ID+"\x00"+userID)
}

// appRate returns the rate of the application app: its rate_limit, or
// the default. Rates are cached for appRateTTL; a failed lookup gives the
// default (and is logged).
func (c *Clients) appRate(ctx context.Context, app *tandem.AppRef, now time.Time) ratelimit.Rate {
	c.mu.Lock()
	cr, ok := c.rates[app.ID]
	c.mu.Unlock()
	if ok && now.Before(cr.expires) {
		return cr.rate
	}
	r := c.def
	ws, err := c.ws.GetWorkspace(ctx, app.Workspace)
	if err != nil {
		c.logger.WarnContext(ctx, "application rate lookup failed; using the default", "application", app.Name, "err", err)
	} else if a, ok := ws.Doc.Application(app.Name); ok && a.RateLimit != nil {
		r = AppRate(a.RateLimit)
	}
	c.mu.Lock()
	if len(c.rates) >= maxCachedRates {
		clear(c.rates)
	}
	c.rates[app.ID] = cachedRate{rate: r, expires: now.Add(appRateTTL)}
	c.mu.Unlock()
	return r
}

// AppRate is the rate of an application's rate_limit (validated by the
// spec package: requests_per_second > 0, burst ≥ 1 after defaults).
func AppRate(rl *tandem.RateLimit) ratelimit.Rate {
	return ratelimit.Rate{PerSecond: rl.RequestsPerSecond, Burst: rl.Burst}
}

// setRetryAfter sets the Retry-After header of a refusal.
func setRetryAfter(h http.Header, ref *ratelimit.Refusal) {
	h.Set("Retry-After", strconv.Itoa(ref.RetryAfter()))
}

// writeRefusal writes a refusal as a 429 problem with Retry-After.
func writeRefusal(w http.ResponseWriter, ref *ratelimit.Refusal) {
	setRetryAfter(w.Header(), ref)
	writeProblem(w, http.StatusTooManyRequests, ref.Message())
}

// refusalError is a refusal as the huma error of a handler: 429 with
// Retry-After.
func refusalError(ref *ratelimit.Refusal) error {
	h := http.Header{}
	setRetryAfter(h, ref)
	return huma.ErrorWithHeaders(huma.NewError(http.StatusTooManyRequests, ref.Message()), h)
}

// adminLimits are the admin API's limits: per address, and a lockout after
// wrong admin tokens.
type adminLimits struct {
	byAddr  *ratelimit.Limit
	lockout *ratelimit.AuthLockout
}

func (s *Server) initLimits() {
	s.RateLimits = ratelimit.OrDefault(s.RateLimits, s.Now)
	cfg := s.RateLimits.Config()
	s.limits = adminLimits{
		byAddr:  s.RateLimits.Limit(LimitAddress, cfg.API, "requests from this address"),
		lockout: s.RateLimits.Lockout(LimitAuthLockout, cfg.LockoutFailures, cfg.LockoutPeriod, "failed admin authentications from this address"),
	}
	if s.Clients == nil {
		s.Clients = NewClients(s.Workspaces, s.Verifications, s.Logger, s.RateLimits)
	}
}

// adminRefused counts a wrong admin token from addr; when that locks the
// address out, it logs and audits it.
func (s *Server) adminRefused(r *http.Request, addr string) {
	if !s.limits.lockout.Fail(addr) {
		return
	}
	now := s.RateLimits.Time()
	s.Logger.Warn("address locked out after wrong admin tokens", "addr", addr, "for", s.limits.lockout.Period())
	if s.Verifications == nil {
		return
	}
	detail, _ := jsonMarshal(map[string]any{"lockout_s": int(s.limits.lockout.Period().Seconds())})
	ev := tandem.AuditEvent{Actor: tandem.ActorAdmin, Action: "locked_out.admin_token", Detail: detail, Addr: addr, At: now}
	if err := s.Verifications.AddAudit(r.Context(), ev); err != nil {
		s.Logger.ErrorContext(r.Context(), "audit of a lockout failed", "err", err)
	}
}
