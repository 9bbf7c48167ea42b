// Command tandem runs the Tandem identity verification server and its tools.
// main handles signals and the exit code; everything else is in Run.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	code, msg := exitStatus(err)
	if msg != "" {
		fmt.Fprintln(os.Stderr, "tandem:", msg)
	}
	if code != 0 {
		os.Exit(code)
	}
}

// exitStatus returns the exit status for Run's error and the reason to
// print: 2 for a *usageError, the code of an *exitError, 1 for any other
// error.
func exitStatus(err error) (int, string) {
	var x *exitError
	var u *usageError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &x):
		return x.code, x.msg
	case errors.As(err, &u):
		return 2, u.msg
	}
	return 1, err.Error()
}
