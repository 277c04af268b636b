package tenancy

import (
	"context"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"
)

// APIHealth turns the informers' watch errors into a few clear log lines:
// once when the API server becomes unreachable and once when it is back,
// and once per resource the service account may not read. Deliveries go on
// from the informer caches meanwhile.
type APIHealth struct {
	log   *slog.Logger
	check func(ctx context.Context) error

	mu        sync.Mutex
	down      bool
	forbidden map[string]bool
	kick      chan struct{}
}

// NewAPIHealth returns a tracker; check probes the API server (for
// instance a discovery call) and is used to notice recovery.
func NewAPIHealth(log *slog.Logger, check func(ctx context.Context) error) *APIHealth {
	return &APIHealth{log: log, check: check, forbidden: map[string]bool{}, kick: make(chan struct{}, 1)}
}

// Watch installs the error handler on an informer of resource ("secrets",
// "namespaces", …).
func (h *APIHealth) Watch(inf cache.SharedIndexInformer, resource string) error {
	return inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
		h.onError(resource, err)
	})
}

func (h *APIHealth) onError(resource string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if apierrors.IsForbidden(err) {
		if !h.forbidden[resource] {
			h.forbidden[resource] = true
			h.log.Error("Kubernetes API forbids reading a resource; check the sidecar's RBAC (manifests/)",
				"resource", resource, "needs", "list, watch", "err", err)
		}
		return
	}
	// Let the prober confirm and report it: a watch can end for reasons
	// that are not an outage.
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// Forbidden reports whether reading resource was refused: its cache will
// never sync and must not be waited for.
func (h *APIHealth) Forbidden(resource string) bool {
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.forbidden[resource]
}

// Run probes the API server every period until ctx is done, and logs
// when it becomes unreachable and when it is back. Probing, rather than
// relying on the informers' errors alone, also notices an outage while the
// informers are quietly backing off.
func (h *APIHealth) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		pctx, cancel := context.WithTimeout(ctx, every)
		err := h.check(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.mu.Lock()
		switch {
		case err != nil && !h.down:
			h.down = true
			h.log.Warn("Kubernetes API unreachable; delivering from cached channels until it is back", "err", err)
		case err == nil && h.down:
			h.down = false
			h.log.Info("Kubernetes API reachable again")
		}
		h.mu.Unlock()
	}
}
