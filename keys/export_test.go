package keys

import (
	"context"
	"crypto/ecdsa"
)

// OpenActive returns the opened private key of a workspace's active key,
// for tests that check what is stored.
func OpenActive(ctx context.Context, m *Manager, workspace string) (*ecdsa.PrivateKey, error) {
	k, err := m.active(ctx, workspace)
	if err != nil {
		return nil, err
	}
	return m.open(k)
}
