package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/amtenant/amtenant/objectfiles"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// tenancyConfig is the tenancy part of the options.
func (o *Options) tenancyConfig() tenancy.Config {
	return tenancy.Config{
		Namespace:            o.Namespace,
		NamespaceTenantLabel: o.NamespaceTenantLabel,
		AlertNamespaceLabel:  model.LabelName(o.AlertNamespaceLabel),
		GroupWait:            o.GroupWait,
		GroupInterval:        o.GroupInterval,
		RepeatInterval:       o.RepeatInterval,
		AdminOnly:            !o.TenantSecrets,
		Limits: tenancy.Limits{
			Channels:         o.LimitsTenantChannels,
			ChannelGroups:    o.LimitsChannelGroups,
			ChannelPerMinute: o.LimitsChannelPerMinute,
		},
	}
}

// offlineManager builds channels without delivering anything on its own.
func (o *Options) offlineManager() (*senders.Manager, error) {
	tmpl, err := senders.Templates(o.TemplateFiles, o.externalURL)
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	return senders.NewManager(senders.Options{
		Template:    tmpl,
		Guard:       senders.NewGuard(o.denyCIDRs),
		TenantLabel: model.LabelName(o.AlertTenantLabel),
	}, nil), nil
}

// checkFiles validates the Secrets in files the way the sidecar would and
// prints each problem; it returns the number of problems.
func checkFiles(o *Options, files []string, w io.Writer) (int, error) {
	var (
		all      tenancy.Objects
		problems int
	)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		objs, err := objectfiles.Parse(raw, o.Namespace)
		if err != nil {
			fmt.Fprintf(w, "%s: %s\n", f, err)
			problems++
			continue
		}
		if len(objs.Secrets) == 0 && len(objs.ConfigMaps) == 0 {
			fmt.Fprintf(w, "%s: no Secret or ConfigMap found\n", f)
			problems++
		}
		all.Namespaces = append(all.Namespaces, objs.Namespaces...)
		all.Secrets = append(all.Secrets, objs.Secrets...)
		all.ConfigMaps = append(all.ConfigMaps, objs.ConfigMaps...)
	}
	mgr, err := o.offlineManager()
	if err != nil {
		return 0, err
	}
	for _, p := range tenancy.Check(o.tenancyConfig(), all, mgr) {
		fmt.Fprintln(w, p)
		problems++
	}
	return problems, nil
}

// sendTest sends a test notification through one channel, read from
// --objects.dir or from the Kubernetes API.
func sendTest(ctx context.Context, o *Options, id string, w io.Writer) error {
	ns, name, ok := strings.Cut(id, "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("--channel %q: want NAMESPACE/NAME", id)
	}
	var (
		namespaces []*corev1.Namespace
		secrets    []*corev1.Secret
		err        error
	)
	if o.ObjectsDir != "" {
		var objs tenancy.Objects
		objs, err = objectfiles.Read(o.ObjectsDir, o.Namespace)
		namespaces, secrets = objs.Namespaces, objs.Secrets
	} else {
		namespaces, secrets, err = readFromCluster(ctx, o, ns, name)
	}
	if err != nil {
		return err
	}
	var target *corev1.Secret
	var keep []*corev1.Secret
	for _, s := range secrets {
		switch {
		case s.Namespace == ns && s.Name == name:
			target = s
			keep = append(keep, s)
		case s.Namespace == o.Namespace && hasKey(s.Labels, tenancy.LabelGlobal):
			keep = append(keep, s)
		}
	}
	if target == nil {
		return fmt.Errorf("channel Secret %s not found", id)
	}
	mgr, err := o.offlineManager()
	if err != nil {
		return err
	}
	if problems := tenancy.Check(o.tenancyConfig(), tenancy.Objects{Namespaces: namespaces, Secrets: keep}, mgr); len(problems) > 0 {
		var msgs []string
		for _, p := range problems {
			msgs = append(msgs, p.String())
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	tenant := tenantOfChannel(o, target, namespaces)
	results, err := mgr.SendTest(ctx, id, tenant)
	if err != nil {
		return err
	}
	failed := 0
	for _, r := range results {
		switch {
		case r.Err == nil:
			fmt.Fprintf(w, "%s %s: delivered\n", id, r.Integration)
		case r.Retryable:
			failed++
			fmt.Fprintf(w, "%s %s: failed (a real notification would be retried): %s\n", id, r.Integration, r.Err)
		default:
			failed++
			fmt.Fprintf(w, "%s %s: failed: %s\n", id, r.Integration, r.Err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d integrations failed", failed, len(results))
	}
	return nil
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// tenantOfChannel is the tenant label a test alert through s carries.
func tenantOfChannel(o *Options, s *corev1.Secret, namespaces []*corev1.Namespace) string {
	if s.Namespace == o.Namespace {
		return s.Labels[tenancy.LabelTenant]
	}
	cfg := o.tenancyConfig()
	t, _ := cfg.NamespaceTenants(namespaces)(s.Namespace)
	return t
}

// readFromCluster reads the channel Secret, the global Secret and the
// channel's Namespace with the caller's Kubernetes credentials (kubectl's
// configuration unless --kubeconfig is given).
func readFromCluster(ctx context.Context, o *Options, ns, name string) ([]*corev1.Namespace, []*corev1.Secret, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("kubernetes client configuration: %w", err)
	}
	core, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := core.Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("get Secret %s/%s: %w", ns, name, err)
	}
	secrets := []*corev1.Secret{s}
	if globals, err := core.Secrets(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: tenancy.LabelGlobal}); err == nil {
		for i := range globals.Items {
			secrets = append(secrets, &globals.Items[i])
		}
	}
	var namespaces []*corev1.Namespace
	if n, err := core.Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		namespaces = append(namespaces, n)
	}
	return namespaces, secrets, nil
}
