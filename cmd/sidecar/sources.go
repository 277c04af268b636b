package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/common/version"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/amtenant/amtenant/objectfiles"
	"github.com/amtenant/amtenant/tenancy"
)

// source is where Namespaces and Secrets come from.
type source struct {
	informers tenancy.Informers
	reporter  tenancy.Reporter
	health    *tenancy.APIHealth
	// run runs the source's background work until ctx is done.
	run  func(ctx context.Context) error
	stop func()
	// rest is the API configuration in Kubernetes mode, nil in local mode.
	rest *rest.Config
}

// localSource loads the objects directory into a feed that the same
// informers and rules as in a cluster read. (A fake clientset would do
// too, at the cost of linking in every API group's types and clients.)
func localSource(ctx context.Context, o *Options, log *slog.Logger) (*source, error) {
	feed := objectfiles.NewFeed()
	dir := objectfiles.NewDir(o.ObjectsDir, o.Namespace, feed, log.With("component", "objects"))
	if err := dir.Load(); err != nil {
		return nil, err
	}
	return &source{
		informers: tenancy.NewInformers(feed.ListerWatcher, o.Namespace, o.TenantSecrets, 0),
		reporter:  tenancy.LogReporter{Log: log.With("component", "channels")},
		run:       func(ctx context.Context) error { return dir.Watch(ctx, time.Minute) },
		stop:      func() {},
	}, nil
}

// clusterSource talks to the Kubernetes API, in-cluster or through a
// kubeconfig.
func clusterSource(o *Options, log *slog.Logger) (*source, error) {
	var (
		cfg *rest.Config
		err error
	)
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes client configuration (use --kubeconfig outside a cluster, or --objects.dir without Kubernetes): %w", err)
	}
	cfg.UserAgent = "amtenant/" + version.Version
	// Only the core API group's client: a clientset would link in every
	// group's.
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	meta, err := metadata.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	inf := tenancy.NewClusterInformers(core, meta, o.Namespace, o.TenantSecrets, 0)
	health := tenancy.NewAPIHealth(log.With("component", "kubernetes"), func(ctx context.Context) error {
		return core.RESTClient().Get().AbsPath("/version").Do(ctx).Error()
	})
	for _, n := range inf.All() {
		if err := health.Watch(n.Informer, n.Resource); err != nil {
			return nil, err
		}
	}
	rep, stop := tenancy.NewEventReporter(core, podName(), log.With("component", "channels"))
	return &source{
		informers: inf,
		reporter:  rep,
		health:    health,
		run: func(ctx context.Context) error {
			health.Run(ctx, 5*time.Second)
			return nil
		},
		stop: stop,
		rest: cfg,
	}, nil
}

// podName identifies this replica in Events and in the leader election.
func podName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}
