package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/tandem-id/tandem/bench"
)

const benchUsage = `Usage: tandem bench -url URL -admin-token TOKEN [flags]

Drives a running Tandem server (on this machine's loopback interface only)
through complete flows, as an integrator, a browser and a phone do them,
and reports completed flows per second, errors by kind and latency per
phase. It applies its own workspace ("bench") with the admin token.

Flags:
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	var cfg bench.Config
	var mix string
	var asJSON bool
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "base `URL` of the server (loopback addresses only)")
	fs.StringVar(&cfg.AdminToken, "admin-token", "", "the server's admin `token` (to apply the bench workspace and issue its secrets)")
	fs.StringVar(&cfg.Workspace, "workspace", "bench", "`name` of the bench workspace")
	fs.StringVar(&mix, "mix", "full=1", "flow `mix`: full (web step, location, QR hand-over, number prompt, proximity) and web (web steps only), with weights, e.g. full=3,web=1")
	fs.IntVar(&cfg.Concurrency, "c", 8, "flows running at once (closed loop; ignored with -rate)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "start this many flows per `second` whatever the answers (open loop)")
	fs.IntVar(&cfg.MaxInFlight, "max-in-flight", 10000, "open loop: most flows running at once; later arrivals count as dropped")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long flows are measured")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "how long flows run before they are measured")
	fs.DurationVar(&cfg.FlowTimeout, "flow-timeout", 30*time.Second, "longest time one flow may take")
	fs.BoolVar(&cfg.Floor, "floor", false, "afterwards, send as many GET /healthz as the flows sent requests, at the same concurrency, and print the ratio")
	fs.IntVar(&cfg.Waiters, "waiters", 0, "hold this many browsers waiting on live streams during the run; report the server's memory per waiter")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process `id` for -waiters (default: the process listening on the URL's port)")
	fs.IntVar(&cfg.Sources, "sources", 0, "connect from this many loopback addresses (127.0.0.1, 127.0.0.2, …) (default: one per 20,000 connections)")
	fs.IntVar(&cfg.AppRateLimit, "app-rate-limit", 1000000, "rate_limit (requests per second) of the bench applications, where the server supports it; 0 for none")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if err := parseFlags(fs, args, getenv, "admin-token"); err != nil {
		return err
	}
	m, err := bench.ParseMix(mix)
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	cfg.Mix = m
	if _, err := bench.CheckTarget(cfg.URL); err != nil {
		return &usageError{msg: err.Error()}
	}
	cfg.Progress = stderr
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.WriteText(stdout)
	return nil
}
