package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandem-id/tandem"
	"github.com/tandem-id/tandem/app"
	"github.com/tandem-id/tandem/ciba"
	"github.com/tandem-id/tandem/deviceapi"
	"github.com/tandem-id/tandem/deviceproto"
	"github.com/tandem-id/tandem/engine"
	"github.com/tandem-id/tandem/events"
	"github.com/tandem-id/tandem/examples"
	"github.com/tandem-id/tandem/httpapi"
	"github.com/tandem-id/tandem/keys"
	"github.com/tandem-id/tandem/module/all"
	"github.com/tandem-id/tandem/push"
	"github.com/tandem-id/tandem/push/fcm"
	"github.com/tandem-id/tandem/push/webpush"
	"github.com/tandem-id/tandem/ratelimit"
	"github.com/tandem-id/tandem/rules"
	"github.com/tandem-id/tandem/spec"
	"github.com/tandem-id/tandem/strictjson"
	"github.com/tandem-id/tandem/web"
	"github.com/tandem-id/tandem/webhook"
)

// serveConfig is the configuration of `tandem serve` and `tandem demo`.
type serveConfig struct {
	addr        string
	db          string
	publicURL   string
	adminToken  string
	tlsCert     string
	tlsKey      string
	secretKey   string
	logFormat   string
	logLevel    string
	secretGrace time.Duration
	shutdown    time.Duration
	sweep       time.Duration

	// allowInsecureWebhooks and webhookAllowHosts relax the webhook
	// delivery policy (see webhook.Policy).
	allowInsecureWebhooks bool
	webhookAllowHosts     string

	// vapidSubject is the contact sent to Web Push services (RFC 8292).
	vapidSubject string

	// fcmCredentials is the service-account JSON key file of FCM pushes
	// ("" is FCM off); fcmEndpoint is FCM's base URL.
	fcmCredentials string
	fcmEndpoint    string

	// limits and rateLimitExempt are the rate limits of every surface
	// (docs/configuration.md, "Rate limits").
	limits          ratelimit.Limits
	rateLimitExempt ratelimit.Prefixes

	// pprofAddr, when set, is a loopback address serving net/http/pprof
	// on its own listener (never on the public one); "" is off.
	pprofAddr string
}

func serveFlags(name string, demo bool) (*flag.FlagSet, *serveConfig) {
	c := &serveConfig{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addr, db := ":8080", "sqlite:tandem.db"
	if demo {
		addr, db = "127.0.0.1:8080", "sqlite:tandem-demo.db"
	}
	fs.StringVar(&c.addr, "addr", addr, "`address` to listen on (host:port)")
	fs.StringVar(&c.db, "db", db, "database: sqlite:PATH (PostgreSQL is not supported yet)")
	fs.StringVar(&c.publicURL, "public-url", "", "base `URL` used in links and QR codes (default: derived from -addr)")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin API bearer `token`; when unset, one is generated on first start and printed once")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this certificate `file` (PEM; with -tls-key)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the private key `file` of -tls-cert (PEM)")
	secretHelp := "operator `secret` (at least 32 characters) that encrypts the workspace signing keys at rest; required"
	if demo {
		secretHelp = "operator `secret` (at least 32 characters) that encrypts the workspace signing keys at rest; when unset, one is generated and kept in a file next to the database (DB.secret)"
	}
	fs.StringVar(&c.secretKey, "secret-key", "", secretHelp)
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&c.secretGrace, "secret-grace", 24*time.Hour, "how long a rotated client secret or webhook secret keeps working")
	fs.DurationVar(&c.shutdown, "shutdown-timeout", 15*time.Second, "how long to wait for requests in flight when stopping")
	fs.DurationVar(&c.sweep, "expiry-sweep", 30*time.Second, "how often overdue verifications are marked expired")
	fs.BoolVar(&c.allowInsecureWebhooks, "allow-insecure-webhooks", false, "deliver webhooks to http URLs and to any address, loopback and private ones included (local development only)")
	fs.StringVar(&c.webhookAllowHosts, "webhook-allow-hosts", "", "`hosts` (comma-separated) that webhooks may reach whatever their addresses, e.g. a receiver on the private network")
	fs.StringVar(&c.vapidSubject, "vapid-subject", "mailto:admin@localhost", "contact `URI` (mailto: or https:) that Web Push services may use to reach the operator (VAPID subject)")
	fs.StringVar(&c.fcmCredentials, "fcm-credentials", "", "Google service-account JSON key `file` for sending pushes to native apps through Firebase Cloud Messaging; when unset, FCM devices are not pushed to")
	fs.StringVar(&c.fcmEndpoint, "fcm-endpoint", fcm.DefaultEndpoint, "base `URL` of the FCM HTTP v1 API (https, or http to a loopback address)")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go's runtime profiles (net/http/pprof) on this loopback `address` (e.g. 127.0.0.1:6060), apart from the public listener; off when unset")
	rateLimitFlags(fs, c)
	return fs, c
}

// rateLimitFlags defines the flags of the rate limits. A rate is written
// COUNT/UNIT:BURST (20/s:60) or off.
func rateLimitFlags(fs *flag.FlagSet, c *serveConfig) {
	c.limits = ratelimit.DefaultLimits()
	rate := func(r *ratelimit.Rate, name, what string) {
		fs.Var(ratelimit.RateFlag{R: r}, name, what+" (`COUNT/UNIT:BURST`, UNIT s, m or h, or off)")
	}
	fs.Var(&c.rateLimitExempt, "rate-limit-exempt", "`CIDRS` (comma-separated) whose requests skip the per-address limits and lockouts, e.g. 127.0.0.0/8 for load tests or a trusted reverse proxy")
	rate(&c.limits.API, "rate-limit-api", "requests per client address to the admin API, the OpenAPI document, the JWKS and CIBA discovery and userinfo")
	rate(&c.limits.Application, "rate-limit-app", "requests per application to the integrator API and the CIBA endpoints, for applications without their own rate_limit")
	rate(&c.limits.User, "rate-limit-user", "verifications started per application and user_id")
	rate(&c.limits.DeviceAddr, "rate-limit-device-addr", "requests per client address to the device API")
	rate(&c.limits.Device, "rate-limit-device", "requests per device (credential id) to the device API")
	rate(&c.limits.WebAddr, "rate-limit-web-addr", "requests per client address to the verification pages")
	rate(&c.limits.WebBrowser, "rate-limit-web-browser", "form posts and new pairing codes per browser")
	fs.IntVar(&c.limits.WebStreams, "rate-limit-web-streams", c.limits.WebStreams, "open event streams per client address (0: no bound)")
	fs.IntVar(&c.limits.LockoutFailures, "auth-lockout-failures", c.limits.LockoutFailures, "wrong admin tokens or client credentials from one address that lock it out of that API (0: no lockout)")
	fs.DurationVar(&c.limits.LockoutPeriod, "auth-lockout-period", c.limits.LockoutPeriod, "the window in which -auth-lockout-failures are counted, and how long a lockout lasts")
}

// adminTokenSetting is the settings key of the generated admin token's hash.
const adminTokenSetting = "admin_token_sha256"

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string, demo bool) error {
	name := "serve"
	if demo {
		name = "demo"
	}
	fs, cfg := serveFlags(name, demo)
	fs.SetOutput(stderr)
	if err := parseFlags(fs, args, getenv, "admin-token", "secret-key"); err != nil {
		return err
	}
	logger, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	if cfg.sweep < time.Second {
		return &usageError{msg: "-expiry-sweep must be at least 1s"}
	}
	if cfg.secretGrace < 0 {
		return &usageError{msg: "-secret-grace must not be negative"}
	}
	if cfg.limits.WebStreams < 0 || cfg.limits.LockoutFailures < 0 || cfg.limits.LockoutPeriod < 0 {
		return &usageError{msg: "-rate-limit-web-streams, -auth-lockout-failures and -auth-lockout-period must not be negative"}
	}
	if err := checkSecretKey(cfg.secretKey, demo); err != nil {
		return err
	}
	hookPolicy, err := webhookPolicy(cfg.allowInsecureWebhooks, cfg.webhookAllowHosts)
	if err != nil {
		return err
	}
	if err := webpush.CheckSubject(cfg.vapidSubject); err != nil {
		return &usageError{msg: "-vapid-subject: " + err.Error()}
	}
	fcmPush, err := fcmProvider(cfg.fcmCredentials, cfg.fcmEndpoint, time.Now, logger)
	if err != nil {
		return err
	}

	stopPprof, err := startPprof(cfg.pprofAddr, logger)
	if err != nil {
		return err
	}
	defer stopPprof()

	db, err := openDB(ctx, cfg.db, logger)
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := serveSecret(cfg.secretKey, cfg.db, demo, logger)
	if err != nil {
		return err
	}
	webhookBox, err := webhook.NewBox(secret)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	defer ln.Close()
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return &usageError{msg: "-tls-cert and -tls-key go together: give both, or neither"}
	}
	if cfg.tlsCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey); err != nil {
			return fmt.Errorf("load -tls-cert/-tls-key: %w", err)
		}
	}
	publicURL, err := derivePublicURL(cfg.publicURL, ln.Addr().(*net.TCPAddr), cfg.tlsCert != "")
	if err != nil {
		return err
	}

	env, err := rules.NewEnv()
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	validator := &spec.Validator{Modules: all.Registry(), Rules: env}
	now := time.Now

	adminAuth, newToken, err := setupAdminToken(ctx, db, cfg.adminToken, demo)
	if err != nil {
		return err
	}

	pusher, vapidPublicKey, err := setupPush(ctx, db, secret, cfg.vapidSubject, fcmPush, now, logger)
	if err != nil {
		return err
	}
	hub := events.NewHub()
	eng := &engine.Engine{
		Store: db, Modules: validator.Modules, Rules: env, Events: hub,
		Logger: logger, Now: now, PublicURL: publicURL,
		Push: pusher, Inboxes: events.NewHub(),
	}

	var demoLines []string
	if demo {
		demoLines, err = applyDemo(ctx, db, validator, eng, now())
		if err != nil {
			return err
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rateLimited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tandem_rate_limited_total", Help: "Requests refused by a rate limit or lockout, by surface and limit.",
	}, []string{"surface", "limit"})
	reg.MustRegister(rateLimited)
	guard := &ratelimit.Guard{
		Exempt: cfg.rateLimitExempt, Now: now, Limits: &cfg.limits,
		Refused: func(surface, limit string) { rateLimited.WithLabelValues(surface, limit).Inc() },
	}
	clients := httpapi.NewClients(db, db, logger, guard)
	api := &httpapi.Server{
		Workspaces: db, Validator: validator, AdminAuth: adminAuth, Logger: logger,
		Now: now, SecretGrace: cfg.secretGrace, Version: version(),
		Engine: eng, Verifications: db, Devices: db,
		Keys:       &keys.Manager{Store: db, Secret: secret, Now: now},
		RateLimits: guard, Clients: clients,
	}
	api.Webhooks, api.WebhookBox = db, webhookBox
	webSrv := &web.Server{
		Engine: eng, Events: hub, Logger: logger, Now: now,
		SecureCookies: strings.HasPrefix(publicURL, "https://"),
		RateLimits:    guard,
	}
	devSrv := &deviceapi.Server{Engine: eng, Logger: logger, Now: now, VAPIDPublicKey: vapidPublicKey, RateLimits: guard}
	cibaSrv := &ciba.Server{Store: db, Engine: eng, Keys: api.Keys, Box: webhookBox, Logger: logger, Now: now, RateLimits: guard, Clients: clients}
	eng.OnEnd = cibaSrv.OnEnd
	mobileApp, err := app.New()
	if err != nil {
		return err
	}
	handler := newRootHandler(rootDeps{api: api.Handler(), web: webSrv.Handler(), device: devSrv.Handler(), ciba: cibaSrv.Handler(), app: mobileApp.Handler(), ready: db.Ready, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), reg: reg, logger: logger})

	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	srv.RegisterOnShutdown(webSrv.CloseStreams)
	srv.RegisterOnShutdown(devSrv.CloseWaits)
	errc := make(chan error, 1)
	scheme := "http"
	if cfg.tlsCert != "" {
		scheme = "https"
		go func() { errc <- srv.ServeTLS(ln, cfg.tlsCert, cfg.tlsKey) }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	sweepCtx, stopSweep := context.WithCancel(ctx)
	var sweeper sync.WaitGroup
	sweeper.Go(func() { eng.RunSweeper(sweepCtx, cfg.sweep) })
	dispatcher := webhookDispatcher(db, hookPolicy, webhookBox, logger)
	sweeper.Go(func() { dispatcher.Run(sweepCtx) })
	defer sweeper.Wait() // before the database closes
	defer stopSweep()

	fmt.Fprintf(stdout, "tandem %s listening on %s://%s (public URL %s)\n", version(), scheme, ln.Addr(), publicURL)
	if newToken != "" {
		fmt.Fprintf(stdout, "\nAdmin token (shown only now; store it safely): %s\n", newToken)
	}
	for _, l := range demoLines {
		fmt.Fprintln(stdout, strings.ReplaceAll(l, "{public}", publicURL))
	}
	logger.Info("server started", "addr", ln.Addr().String(), "public_url", publicURL, "db", redactDSN(cfg.db))

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.shutdown)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// startPprof serves net/http/pprof on addr, on a listener and mux of its
// own, and returns the function that stops it. addr "" is off. The
// profiles show the program's internals (and /debug/pprof/cmdline its
// arguments, secrets included), so addr must be a loopback address: any
// other is a usage error.
func startPprof(addr string, logger *slog.Logger) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &usageError{msg: fmt.Sprintf("-pprof-addr %q: %v", addr, err)}
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, &usageError{msg: fmt.Sprintf("-pprof-addr %q: must be a loopback address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", addr)}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on -pprof-addr %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, &usageError{msg: fmt.Sprintf("-pprof-addr %q: must be a loopback address", addr)}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	go func() { _ = srv.Serve(ln) }()
	logger.Warn("serving runtime profiles (net/http/pprof)", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

// pushTimeout bounds one Web Push request.
const pushTimeout = 10 * time.Second

// setupPush returns the push provider and the VAPID public key (empty when
// Web Push is off). Devices with a Web Push subscription get Web Push,
// signed with the server's VAPID key (generated at the first start and
// stored sealed with the secret key); the others get the log provider.
// Subscription endpoints come from devices, so pushes go out like
// webhooks: https only, to public addresses only, no redirects. A stored
// VAPID key that the secret key does not open turns Web Push off (the log
// says why) rather than replacing the key, which would break every
// subscription. Devices with an FCM token get FCM when fcmPush is not nil
// (-fcm-credentials), the log provider otherwise.
func setupPush(ctx context.Context, db tandem.WorkspaceStore, secret []byte, subject string, fcmPush *fcm.Provider, now func() time.Time, logger *slog.Logger) (engine.Pusher, string, error) {
	logPush := push.Log{Logger: logger}
	providers := map[string]engine.Pusher{}
	if fcmPush != nil {
		providers[deviceproto.PushFCM] = fcmPush
	}
	key, err := webpush.LoadOrCreateKey(ctx, db, secret)
	if errors.Is(err, webpush.ErrKeyUnreadable) {
		logger.Error("Web Push is off: the VAPID key cannot be opened; start with the -secret-key it was stored with", "err", err)
		return push.ByType{Providers: providers, Default: logPush}, "", nil
	} else if err != nil {
		return nil, "", err
	}
	wp := &webpush.Provider{
		HTTP:  (&webhook.Policy{}).Client(pushTimeout),
		VAPID: webpush.VAPID{PrivateKey: key, Subject: subject},
		Now:   now,
	}
	providers[deviceproto.PushWebPush] = wp
	return push.ByType{Providers: providers, Default: logPush}, wp.VAPID.PublicKey(), nil
}

// fcmProvider returns the FCM provider of -fcm-credentials and
// -fcm-endpoint, or nil (FCM off, said once in the log) when
// -fcm-credentials is unset. A credentials file that cannot be read or is
// not a service account's key is a usage error that says what is wrong.
// The endpoint is the operator's, not a device's: pushes go out with a
// plain client (10 s timeout, no redirects), which may reach a loopback
// emulator or proxy.
func fcmProvider(credentials, endpoint string, now func() time.Time, logger *slog.Logger) (*fcm.Provider, error) {
	if err := fcm.CheckURL(endpoint); err != nil {
		return nil, &usageError{msg: "-fcm-endpoint: " + err.Error()}
	}
	if credentials == "" {
		logger.Info("FCM is off: devices registered with an fcm token are not pushed to (the log provider records their pushes); set -fcm-credentials to send them")
		return nil, nil
	}
	creds, err := fcm.LoadCredentials(credentials)
	if err != nil {
		return nil, &usageError{msg: "-fcm-credentials: " + err.Error()}
	}
	logger.Info("FCM is on", "project_id", creds.ProjectID, "client_email", creds.ClientEmail, "endpoint", endpoint)
	return &fcm.Provider{
		Credentials: creds, Endpoint: endpoint, Now: now, Logger: logger,
		HTTP: &http.Client{
			Timeout:       pushTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// setupAdminToken returns the admin token check. A configured token is used
// as it is. Otherwise the hash of a generated token is kept in the database;
// the token itself is returned (to print once) only when it was generated
// now: on the first start, and on every start of the demo.
func setupAdminToken(ctx context.Context, db tandem.WorkspaceStore, configured string, demo bool) (auth func(string) bool, generated string, err error) {
	if configured != "" {
		if len(configured) < 16 {
			return nil, "", &usageError{msg: "-admin-token must be at least 16 characters"}
		}
		h := tandem.HashSecret(configured)
		return func(t string) bool { return tandem.SecretMatches(t, h) }, "", nil
	}
	h, err := db.Setting(ctx, adminTokenSetting)
	if err != nil && tandem.ErrorCode(err) != tandem.ENOTFOUND {
		return nil, "", fmt.Errorf("load admin token: %w", err)
	}
	if err != nil || demo {
		generated = tandem.NewSecret(tandem.PrefixAdminToken)
		h = tandem.HashSecret(generated)
		if err := db.PutSetting(ctx, adminTokenSetting, h); err != nil {
			return nil, "", fmt.Errorf("store admin token: %w", err)
		}
	}
	return func(t string) bool { return tandem.SecretMatches(t, h) }, generated, nil
}

// applyDemo applies the demo workspace and issues fresh secrets for its
// applications. It returns the lines to print; "{public}" stands for the
// public URL.
func applyDemo(ctx context.Context, db tandem.WorkspaceStore, v *spec.Validator, eng *engine.Engine, now time.Time) ([]string, error) {
	var doc tandem.WorkspaceDoc
	if errs := strictjson.Decode(examples.Workspace, &doc, ""); len(errs) > 0 {
		return nil, fmt.Errorf("demo workspace: %v", errs[0])
	}
	res, err := v.Apply(ctx, db, doc, tandem.AnyVersion)
	if err != nil {
		return nil, fmt.Errorf("apply demo workspace: %w", err)
	}
	lines := []string{"", fmt.Sprintf("Demo workspace %q applied (%s).", doc.Name, strings.TrimPrefix(httpSummary(res), "; "))}
	lines = append(lines, "Applications (fresh secrets are issued at every demo start):")
	for _, app := range doc.Applications {
		cred, err := httpapi.IssueSecret(ctx, db, doc.Name, app.Name, now, 0)
		if err != nil {
			return nil, fmt.Errorf("issue demo secret for %s: %w", app.Name, err)
		}
		lines = append(lines, fmt.Sprintf("  %-12s (%s)  client_id=%s  client_secret=%s", app.Name, app.VerificationWay, cred.ClientID, cred.ClientSecret))
	}
	web, err := db.GetApplication(ctx, doc.Name, "web-login")
	if err != nil {
		return nil, fmt.Errorf("demo application: %w", err)
	}
	created, err := eng.Create(ctx, web, engine.CreateRequest{
		UserID: "mark@example.com", AllowNewDevice: true,
		Metadata: map[string]any{"kyc": "full"},
	}, "127.0.0.1")
	if err != nil {
		return nil, fmt.Errorf("create demo verification: %w", err)
	}
	lines = append(lines, "",
		"A verification for mark@example.com is waiting; open its link in a browser:",
		"  "+created.URL,
		"  (try Aadhaar 2341 2341 2346; read the result with",
		"   curl -u CLIENT_ID:CLIENT_SECRET {public}/v1/verifications/"+created.Verification.ID+"/result)",
		"",
		"Next:",
		"  curl -H \"Authorization: Bearer $ADMIN_TOKEN\" {public}/admin/v1/workspaces/acme",
		"  open {public}/openapi.json for the API description",
		"  open {public}/app/ for the authenticator web app; from a phone on this network, serve",
		"   HTTPS on a reachable address (camera, location and notifications need it), e.g.",
		"   tandem demo -addr 0.0.0.0:8443 -tls-cert cert.pem -tls-key key.pem -public-url https://LAN-ADDRESS:8443",
		"   (docs/operations.md, \"The authenticator web app\")",
		"  press Ctrl+C to stop")
	return lines, nil
}

func httpSummary(res *tandem.ApplyResult) string {
	if len(res.Changes) == 0 {
		return "no changes, version " + strconv.FormatInt(res.Version, 10)
	}
	parts := make([]string, len(res.Changes))
	for i, c := range res.Changes {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ") + "; version " + strconv.FormatInt(res.Version, 10)
}

// derivePublicURL returns the configured public URL, checked, or one built
// from the listening address.
func derivePublicURL(configured string, addr *net.TCPAddr, tls bool) (string, error) {
	if configured != "" {
		u, err := url.Parse(configured)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return "", &usageError{msg: fmt.Sprintf("-public-url %q must be an absolute http(s) URL without query or fragment, e.g. https://verify.example.com", configured)}
		}
		return strings.TrimSuffix(configured, "/"), nil
	}
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "localhost"
	}
	scheme := "http://"
	if tls {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(addr.Port)), nil
}

func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return dsn
}
