package main

import (
	"context"
	"errors"
	"io"
)

// explainRemote asks a running sidecar's explain endpoint and prints its
// answer.
func explainRemote(ctx context.Context, base, matchers, fingerprint string, w io.Writer) error {
	return errors.New("explain: not implemented yet")
}
