package tenancy

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestAPIHealthLogsTransitionsOnce(t *testing.T) {
	var buf syncBuffer
	var failing atomic.Bool
	h := NewAPIHealth(slog.New(slog.NewTextHandler(&buf, nil)), func(context.Context) error {
		if failing.Load() {
			return errors.New("connection refused")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { h.Run(ctx, 5*time.Millisecond); close(done) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, buf.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	time.Sleep(30 * time.Millisecond)
	if strings.Contains(buf.String(), "unreachable") {
		t.Fatalf("a healthy API was reported unreachable")
	}
	failing.Store(true)
	wait("unreachable", func() bool { return strings.Contains(buf.String(), "Kubernetes API unreachable") })
	time.Sleep(50 * time.Millisecond) // many failed probes
	failing.Store(false)
	wait("reachable", func() bool { return strings.Contains(buf.String(), "Kubernetes API reachable again") })
	time.Sleep(30 * time.Millisecond)
	cancel()
	<-done
	if n := strings.Count(buf.String(), "unreachable"); n != 1 {
		t.Errorf("unreachable logged %d times, want 1", n)
	}
	if n := strings.Count(buf.String(), "reachable again"); n != 1 {
		t.Errorf("reachable again logged %d times, want 1", n)
	}
}

func TestAPIHealthForbidden(t *testing.T) {
	var buf syncBuffer
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
