package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/amtenant/amtenant/explain"
)

// explainRemote asks a running sidecar's explain endpoint and prints its
// answer.
func explainRemote(ctx context.Context, base, matchers, fingerprint string, w io.Writer) error {
	if matchers == "" && fingerprint == "" {
		return errors.New("give --alert or --fingerprint")
	}
	q := url.Values{}
	if matchers != "" {
		q.Set("match", matchers)
	}
	if fingerprint != "" {
		q.Set("fingerprint", fingerprint)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+explain.Path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return fmt.Errorf("ask the sidecar at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("sidecar answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	var rep explain.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		return fmt.Errorf("read the sidecar's answer: %w", err)
	}
	explain.Render(w, rep)
	return nil
}
