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
	if err == nil {
		return
	}
	var u *usageError
	if errors.As(err, &u) {
		if u.msg != "" {
			fmt.Fprintln(os.Stderr, "tandem:", u.msg)
		}
		os.Exit(2)
	}
	fmt.Fprintln(os.Stderr, "tandem:", err)
	os.Exit(1)
}
