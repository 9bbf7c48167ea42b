// Command tandem-crashtest kills a `tandem serve` process (SIGKILL) at
// random moments while the load tool's flows run against it, restarts it
// on the same SQLite database each time, and then checks that nothing the
// server acknowledged was lost or done twice (see package
// github.com/tandem-id/tandem/bench/crashtest). It prints a summary and
// exits with status 1 when a check failed. scripts/crash-safety.sh builds
// and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tandem-id/tandem/bench/crashtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	var fails *failed
	switch {
	case err == nil:
	case errors.As(err, &fails):
		os.Exit(1)
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "tandem-crashtest:", err)
		os.Exit(2)
	}
}

// failed is a run that found violations.
type failed struct{ n int }

func (f *failed) Error() string { return fmt.Sprintf("%d violations", f.n) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tandem-crashtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg crashtest.Config
	fs.StringVar(&cfg.Tandem, "tandem", "tandem", "`path` of the tandem binary to run as the server")
	fs.StringVar(&cfg.Dir, "dir", "", "`directory` for the database and the server's logs (default: a new temporary one, kept)")
	fs.IntVar(&cfg.Kills, "kills", 20, "how many times the server is killed")
	fs.IntVar(&cfg.Concurrency, "c", 4, "flows running at once")
	fs.DurationVar(&cfg.MinUp, "min-up", 300*time.Millisecond, "shortest time the server runs under load before a kill")
	fs.DurationVar(&cfg.MaxUp, "max-up", 2*time.Second, "longest time the server runs under load before a kill")
	fs.Uint64Var(&cfg.Seed, "seed", 0, "seed of the kill moments (default: random; printed)")
	fs.BoolVar(&cfg.WaitExpiry, "wait-expiry", true, "wait until the verifications the kills interrupted have expired (their links last 60 s)")
	fs.DurationVar(&cfg.WebhookWait, "webhook-wait", 150*time.Second, "longest wait for every completed verification's webhook")
	fs.IntVar(&cfg.Replays, "replays", 100, "how many accepted device messages are replayed after the restarts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg.Log = stderr
	s, err := crashtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	s.WriteText(stdout)
	if len(s.Violations) > 0 {
		return &failed{len(s.Violations)}
	}
	return nil
}
