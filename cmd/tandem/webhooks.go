package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"

	"github.com/tandem-id/tandem/store"
	"github.com/tandem-id/tandem/webhook"
)

// webhookPolicy returns the delivery policy of -allow-insecure-webhooks and
// -webhook-allow-hosts (host names or IP addresses separated by commas,
// without scheme, port or path), or a usage error.
func webhookPolicy(allowInsecure bool, allowHosts string) (*webhook.Policy, error) {
	p := &webhook.Policy{AllowInsecure: allowInsecure}
	for h := range strings.SplitSeq(allowHosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		if _, err := netip.ParseAddr(bare); err != nil && strings.ContainsAny(h, ":/@ ") {
			return nil, &usageError{msg: fmt.Sprintf("-webhook-allow-hosts: %q is not a host name or IP address; list hosts without scheme, port or path, separated by commas, e.g. hooks.internal,10.0.0.5", h)}
		}
		p.AllowHosts = append(p.AllowHosts, h)
	}
	return p, nil
}

// webhookDispatcher returns the dispatcher of the server's outbox; box
// opens the webhook secrets.
func webhookDispatcher(db *store.DB, policy *webhook.Policy, box *webhook.Box, logger *slog.Logger) *webhook.Dispatcher {
	if policy.AllowInsecure {
		logger.Warn("webhooks may go to http URLs and to any address (-allow-insecure-webhooks); use it for local development only")
	}
	return &webhook.Dispatcher{Store: db, Policy: policy, Box: box, Logger: logger}
}
