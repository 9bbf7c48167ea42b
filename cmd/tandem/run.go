package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
)

// usageError is a mistake in the command line; main exits with status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

const usage = `Tandem — cross-device identity verification server.

Usage:
  tandem serve   [flags]          run the server
  tandem demo    [flags]          run the server with the demo workspace applied
  tandem apply   -f FILE [flags]  apply a declarative workspace document
  tandem device  SUBCOMMAND       the command-line authenticator (pair, inbox, list, forget)
  tandem keys    rotate [flags]   rotate a workspace's result signing key
  tandem bench   -url URL [flags] load-test a running server through complete flows
  tandem version                  print the version

Run "tandem COMMAND -h" for the flags of a command. Every flag can also be
set with an environment variable (TANDEM_ + the flag name in upper case, '-'
as '_'); a flag on the command line wins. See docs/configuration.md.
`

// Run runs the tandem command with args (without the program name). It
// returns when the command is done or ctx is cancelled (a server then shuts
// down gracefully).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{}
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv, false)
	case "demo":
		return runServe(ctx, rest, stdout, stderr, getenv, true)
	case "apply":
		return runApply(ctx, rest, stdout, stderr, getenv)
	case "device":
		return runDevice(ctx, rest, stdout, stderr, getenv)
	case "keys":
		return runKeys(ctx, rest, stdout, stderr, getenv)
	case "bench":
		return runBench(ctx, rest, stdout, stderr, getenv)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "tandem", version())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return &usageError{msg: fmt.Sprintf("unknown command %q", cmd)}
}

// version returns the module version and VCS revision the binary was built
// from, as far as the build recorded them.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += " " + rev + modified
	}
	return v + " " + bi.GoVersion
}

// parseFlags parses args into fs, then fills every flag that was not given
// from its environment variable (TANDEM_ADDR for -addr). For the names in
// secrets, TANDEM_NAME_FILE names a file whose content (trimmed) is used
// when neither the flag nor TANDEM_NAME is set.
func parseFlags(fs *flag.FlagSet, args []string, getenv func(string) string, secrets ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &usageError{}
		}
		return &usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return &usageError{msg: fmt.Sprintf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		env := envName(f.Name)
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = &usageError{msg: fmt.Sprintf("%s=%q: %v", env, v, e)}
			}
			return
		}
		for _, s := range secrets {
			if s != f.Name {
				continue
			}
			path := getenv(env + "_FILE")
			if path == "" {
				return
			}
			b, e := os.ReadFile(path)
			if e != nil {
				err = fmt.Errorf("read %s_FILE: %w", env, e)
				return
			}
			if e := fs.Set(f.Name, strings.TrimSpace(string(b))); e != nil {
				err = &usageError{msg: fmt.Sprintf("%s_FILE: %v", env, e)}
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "TANDEM_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, &usageError{msg: fmt.Sprintf("-log-level %q: use debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, &usageError{msg: fmt.Sprintf("-log-format %q: use text or json", format)}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
