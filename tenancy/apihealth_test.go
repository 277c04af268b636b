package tenancy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/amtenant/amtenant/internal/testutil"
)

func TestAPIHealthLogsTransitionsOnce(t *testing.T) {
	// On a synctest bubble's clock: each sleep below is a known number of
	// probes, however busy the machine.
	synctest.Test(t, func(t *testing.T) {
		var buf testutil.Buffer
		var failing atomic.Bool
		var probes atomic.Int64
		h := NewAPIHealth(slog.New(slog.NewTextHandler(&buf, nil)), func(context.Context) error {
			probes.Add(1)
			if failing.Load() {
				return errors.New("connection refused")
			}
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { h.Run(ctx, 5*time.Millisecond); close(done) }()
		step := func(d time.Duration) int64 {
			before := probes.Load()
			time.Sleep(d)
			synctest.Wait()
			return probes.Load() - before
		}
		if n := step(30 * time.Millisecond); n < 5 {
			t.Fatalf("%d probes in 30 ms, every 5 ms", n)
		}
		if strings.Contains(buf.String(), "unreachable") {
			t.Fatalf("a healthy API was reported unreachable")
		}
		failing.Store(true)
		if n := step(50 * time.Millisecond); n < 9 {
			t.Fatalf("%d failed probes, want many", n)
		}
		if !strings.Contains(buf.String(), "Kubernetes API unreachable") {
			t.Fatalf("not reported unreachable; log:\n%s", buf.String())
		}
		failing.Store(false)
		step(30 * time.Millisecond)
		if !strings.Contains(buf.String(), "Kubernetes API reachable again") {
			t.Fatalf("not reported reachable again; log:\n%s", buf.String())
		}
		cancel()
		<-done
		if n := strings.Count(buf.String(), "unreachable"); n != 1 {
			t.Errorf("unreachable logged %d times, want 1", n)
		}
		if n := strings.Count(buf.String(), "reachable again"); n != 1 {
			t.Errorf("reachable again logged %d times, want 1", n)
		}
	})
}

func TestAPIHealthForbidden(t *testing.T) {
	var buf testutil.Buffer
	h := NewAPIHealth(slog.New(slog.NewTextHandler(&buf, nil)), func(context.Context) error { return nil })
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no RBAC"))
	if h.Forbidden(ResourceSecrets) {
		t.Fatal("forbidden before any error")
	}
	h.onError(ResourceSecrets, forbidden)
	h.onError(ResourceSecrets, forbidden)
	h.onError(ResourceNamespaces, errors.New("connection refused"))
	if !h.Forbidden(ResourceSecrets) || h.Forbidden(ResourceNamespaces) {
		t.Errorf("Forbidden: secrets %v, namespaces %v", h.Forbidden(ResourceSecrets), h.Forbidden(ResourceNamespaces))
	}
	if n := strings.Count(buf.String(), "forbids reading a resource"); n != 1 {
		t.Errorf("forbidden logged %d times, want once:\n%s", n, buf.String())
	}
	if !strings.Contains(buf.String(), "resource=secrets") {
		t.Errorf("the log line does not name the resource:\n%s", buf.String())
	}
	var nilHealth *APIHealth
	if nilHealth.Forbidden(ResourceSecrets) {
		t.Error("a nil APIHealth reports forbidden")
	}
}
