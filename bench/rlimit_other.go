//go:build !unix

package bench

// raiseOpenFiles does nothing where there are no resource limits to raise.
func raiseOpenFiles() (uint64, error) { return 0, nil }
