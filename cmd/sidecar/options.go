package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/tenancy"
)

// Options are the command-line settings (DESIGN.md §4, a contract).
type Options struct {
	AlertmanagerURL          string
	AlertmanagerExternalURL  string
	AlertmanagerRestartGrace time.Duration
	AlertmanagerFilter       []string

	PollInterval    time.Duration
	PollTimeout     time.Duration
	PollBudget      float64
	PollMaxInterval time.Duration

	WebListenAddress string
	WebConfigFile    string
	WebEnablePprof   bool
	Kubeconfig       string
	ObjectsDir       string
	Namespace        string
	TenantSecrets    bool

	GroupWait        time.Duration
	GroupInterval    time.Duration
	RepeatInterval   time.Duration
	ResolveGrace     time.Duration
	MaxRetryDuration time.Duration
	DedupCapacity    int

	LimitsTenantChannels   int
	LimitsChannelGroups    int
	LimitsChannelPerMinute int

	AlertNamespaceLabel  string
	NamespaceTenantLabel string
	AlertTenantLabel     string
	TenantDenyCIDRs      string
	TemplateFiles        []string

	StateFile string

	LeaderElect              bool
	LeaderElectLeaseName     string
	LeaderElectLeaseDuration time.Duration
	LeaderElectRenewDeadline time.Duration
	LeaderElectRetryPeriod   time.Duration

	ReplicationListenAddress string
	ReplicationPeers         []string

	Log promslog.Config

	// Set by Validate.
	amURL       *url.URL
	externalURL *url.URL
	denyCIDRs   []netip.Prefix
}

// serviceAccountNamespace is where Kubernetes mounts the pod's namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

func defaultNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
		if ns := strings.TrimSpace(string(b)); ns != "" {
			return ns
		}
	}
	return "default"
}

// register declares the flags on app.
func (o *Options) register(app *kingpin.Application) {
	app.Flag("alertmanager.url", "Base URL of Alertmanager, route prefix included.").
		Default("http://127.0.0.1:9093").StringVar(&o.AlertmanagerURL)
	app.Flag("alertmanager.external-url", "Base of the links to Alertmanager in notifications. Defaults to --alertmanager.url.").
		StringVar(&o.AlertmanagerExternalURL)
	// Prometheus resends firing alerts every minute; two minutes lets a
	// restarted Alertmanager receive every alert again before an absence
	// can count as a resolution.
	app.Flag("alertmanager.restart-grace", "Hold resolutions for this long after Alertmanager restarted.").
		Default("2m").DurationVar(&o.AlertmanagerRestartGrace)
	app.Flag("alertmanager.filter", "Matcher passed to the API's filter: only matching alerts are considered. Repeatable.").
		StringsVar(&o.AlertmanagerFilter)
	app.Flag("poll.interval", "Time between polls of Alertmanager.").Default("10s").DurationVar(&o.PollInterval)
	app.Flag("poll.timeout", "Deadline of one poll.").Default("10s").DurationVar(&o.PollTimeout)
	app.Flag("poll.alertmanager-cpu-budget", "Share of one CPU Alertmanager may spend serving the polls: when a poll's duration divided by it is longer than --poll.interval, the polls are spread out that far (up to --poll.max-interval). 0: always --poll.interval.").
		Default("0.05").Float64Var(&o.PollBudget)
	app.Flag("poll.max-interval", "Longest time between polls that --poll.alertmanager-cpu-budget may stretch the interval to.").Default("1m").DurationVar(&o.PollMaxInterval)
	app.Flag("web.listen-address", "Address of /healthz, /readyz and /metrics.").Default(":9097").StringVar(&o.WebListenAddress)
	app.Flag("web.config.file", "Prometheus web configuration file (TLS, basic authentication) for the web port, as Alertmanager's --web.config.file. Empty: plain HTTP, no authentication.").
		StringVar(&o.WebConfigFile)
	app.Flag("web.enable-pprof", "Serve Go's profiling endpoints under /debug/pprof/ on the web port.").BoolVar(&o.WebEnablePprof)
	app.Flag("kubeconfig", "Path to a kubeconfig. Empty: the in-cluster configuration.").StringVar(&o.Kubeconfig)
	app.Flag("objects.dir", "Read Namespaces and Secrets from the YAML files in this directory (watched) instead of the Kubernetes API.").
		StringVar(&o.ObjectsDir)
	app.Flag("namespace", "The sidecar's own namespace: channel Secrets there are admin channels. Defaults to $POD_NAMESPACE, else the service account's namespace, else default.").
		Default(defaultNamespace()).StringVar(&o.Namespace)
	app.Flag("tenancy.tenant-secrets", "Accept channel Secrets outside --namespace. With --no-tenancy.tenant-secrets only admin channels exist and a Role on Secrets in --namespace is enough.").
		Default("true").BoolVar(&o.TenantSecrets)
	app.Flag("notify.group-wait", "Batching window before a group's notification.").Default("10s").DurationVar(&o.GroupWait)
	// As in Alertmanager's route: at most one message per group every 5m.
	app.Flag("notify.group-interval", "Default least time between two notifications of one group; what changes meanwhile is sent together at the next interval.").Default("5m").DurationVar(&o.GroupInterval)
	app.Flag("notify.repeat-interval", "Default interval before a still-firing group is notified again.").Default("4h").DurationVar(&o.RepeatInterval)
	// Alertmanager's API hides an alert the moment it resolves, but also
	// for a moment when a resend races a poll; 30s is three polls.
	app.Flag("notify.resolve-grace", "How long an alert must be absent before it counts as resolved.").Default("30s").DurationVar(&o.ResolveGrace)
	app.Flag("notify.max-retry-duration", "Give up on a retryable failure after this long.").Default("1h").DurationVar(&o.MaxRetryDuration)
	app.Flag("dedup.capacity", "Maximum number of alerts remembered (LRU). Alerts present in Alertmanager are always kept.").
		Default("100000").IntVar(&o.DedupCapacity)
	app.Flag("limits.tenant-channels", "Channel Secrets per tenant; those beyond (the newest by creation time) are refused and reported. 0: unlimited. Admins override it per tenant with a ConfigMap labelled amtenant.io/limits.").
		Default("100").IntVar(&o.LimitsTenantChannels)
	app.Flag("limits.channel-groups", "Aggregation groups per channel integration; alerts that would open more are delivered together in one overflow group. 0: unlimited.").
		Default("200").IntVar(&o.LimitsChannelGroups)
	app.Flag("limits.channel-notifications-per-minute", "Notifications per minute per channel integration (a burst of as many, then evenly); due groups beyond wait and go out later with what they then hold. 0: unlimited.").
		Default("120").IntVar(&o.LimitsChannelPerMinute)
	app.Flag("tenancy.alert-namespace-label", "Alert label naming the alert's namespace.").Default("namespace").StringVar(&o.AlertNamespaceLabel)
	app.Flag("tenancy.namespace-tenant-label", "Namespace label naming the namespace's tenant.").Default("amtenant.io/tenant").StringVar(&o.NamespaceTenantLabel)
	app.Flag("tenancy.alert-tenant-label", "Label added to every delivered alert with its tenant.").Default("tenant").StringVar(&o.AlertTenantLabel)
	app.Flag("security.tenant-deny-cidrs", "Comma-separated networks tenant channels may not connect to. Empty denies nothing.").
		Default(senders.DefaultDenyCIDRs).StringVar(&o.TenantDenyCIDRs)
	app.Flag("template.files", "Template files (globs) added to Alertmanager's default templates. Repeatable.").StringsVar(&o.TemplateFiles)
	app.Flag("state.file", "Save the delivery state to this file (atomically, every few seconds and at shutdown) and resume from it at start, so that a restart sends nothing twice. Empty: memory only.").
		StringVar(&o.StateFile)
	app.Flag("leader-elect", "Elect one delivering replica among the sidecars of an Alertmanager cluster through a Lease in --namespace; the others follow in shadow.").
		BoolVar(&o.LeaderElect)
	app.Flag("leader-elect.lease-name", "Name of the Lease. Identity: $POD_NAME, else the hostname.").Default("amtenant").StringVar(&o.LeaderElectLeaseName)
	app.Flag("leader-elect.lease-duration", "How long followers wait after the last renewal before taking over.").Default("15s").DurationVar(&o.LeaderElectLeaseDuration)
	app.Flag("leader-elect.renew-deadline", "How long the leader retries renewing before it steps down.").Default("10s").DurationVar(&o.LeaderElectRenewDeadline)
	app.Flag("leader-elect.retry-period", "Time between attempts to acquire or renew the Lease.").Default("2s").DurationVar(&o.LeaderElectRetryPeriod)
	app.Flag("replication.listen-address", "Where this replica serves its delivery record to the other replicas (with --leader-elect and --replication.peer). Empty: replication off.").
		Default(":9098").StringVar(&o.ReplicationListenAddress)
	app.Flag("replication.peer", "host:port of another replica's --replication.listen-address, from which this replica copies the leader's delivery record, so that a takeover sends nothing the leader delivered. Repeatable; DNS names are resolved at each connection (a StatefulSet's stable names); this replica's own address may be listed and is skipped.").
		StringsVar(&o.ReplicationPeers)
	promslogflag.AddFlags(app, &o.Log)
}

// validateCommon checks what the subcommands need too: URLs, the deny
// list, the namespace.
func (o *Options) validateCommon() error {
	var errs []error
	u, err := parseBaseURL(o.AlertmanagerURL)
	if err != nil {
		errs = append(errs, fmt.Errorf("--alertmanager.url: %w", err))
	}
	o.amURL = u
	if o.AlertmanagerExternalURL == "" {
		o.externalURL = u
	} else if o.externalURL, err = parseBaseURL(o.AlertmanagerExternalURL); err != nil {
		errs = append(errs, fmt.Errorf("--alertmanager.external-url: %w", err))
	}
	if o.denyCIDRs, err = senders.ParseCIDRs(o.TenantDenyCIDRs); err != nil {
		errs = append(errs, fmt.Errorf("--security.tenant-deny-cidrs: %w", err))
	}
	if o.Namespace == "" {
		errs = append(errs, errors.New("--namespace must not be empty"))
	}
	return errors.Join(errs...)
}

// Validate checks the options of the sidecar itself and fills in derived
// values.
func (o *Options) Validate() error {
	var errs []error
	if err := o.validateCommon(); err != nil {
		errs = append(errs, err)
	}
	for _, f := range o.AlertmanagerFilter {
		if _, err := tenancy.ParseMatcher(f); err != nil {
			errs = append(errs, fmt.Errorf("--alertmanager.filter %q: %w", f, err))
		}
	}
	if o.PollBudget < 0 || o.PollBudget > 1 {
		errs = append(errs, errors.New("--poll.alertmanager-cpu-budget must be between 0 and 1"))
	}
	if o.PollMaxInterval < o.PollInterval {
		errs = append(errs, errors.New("--poll.max-interval must not be shorter than --poll.interval"))
	}
	positive := map[string]time.Duration{
		"--poll.interval":             o.PollInterval,
		"--poll.timeout":              o.PollTimeout,
		"--notify.repeat-interval":    o.RepeatInterval,
		"--notify.group-interval":     o.GroupInterval,
		"--notify.max-retry-duration": o.MaxRetryDuration,
	}
	for name, d := range positive {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be greater than 0", name))
		}
	}
	for name, d := range map[string]time.Duration{
		"--notify.group-wait":          o.GroupWait,
		"--notify.resolve-grace":       o.ResolveGrace,
		"--alertmanager.restart-grace": o.AlertmanagerRestartGrace,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative", name))
		}
	}
	if err := web.Validate(o.WebConfigFile); err != nil {
		errs = append(errs, fmt.Errorf("--web.config.file: %w", err))
	}
	if o.DedupCapacity <= 0 {
		errs = append(errs, errors.New("--dedup.capacity must be greater than 0"))
	}
	for _, l := range []struct {
		flag string
		v    int
	}{{"--limits.tenant-channels", o.LimitsTenantChannels}, {"--limits.channel-groups", o.LimitsChannelGroups}, {"--limits.channel-notifications-per-minute", o.LimitsChannelPerMinute}} {
		if l.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative (0 means unlimited)", l.flag))
		}
	}
	if o.ObjectsDir != "" && o.Kubeconfig != "" {
		errs = append(errs, errors.New("--objects.dir and --kubeconfig exclude each other"))
	}
	if o.ObjectsDir != "" {
		if fi, err := os.Stat(o.ObjectsDir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--objects.dir %q is not a readable directory", o.ObjectsDir))
		}
	}
	for _, l := range []struct{ flag, v string }{
		{"--tenancy.alert-namespace-label", o.AlertNamespaceLabel},
		{"--tenancy.alert-tenant-label", o.AlertTenantLabel},
		{"--tenancy.namespace-tenant-label", o.NamespaceTenantLabel},
	} {
		if l.v == "" {
			errs = append(errs, fmt.Errorf("%s must not be empty", l.flag))
		}
	}
	if o.StateFile != "" {
		dir := filepath.Dir(o.StateFile)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			errs = append(errs, fmt.Errorf("--state.file: directory %q does not exist", dir))
		} else if fi, err := os.Stat(o.StateFile); err == nil && fi.IsDir() {
			errs = append(errs, fmt.Errorf("--state.file %q is a directory", o.StateFile))
		}
	}
	if o.LeaderElect {
		if o.ObjectsDir != "" {
			errs = append(errs, errors.New("--leader-elect needs the Kubernetes API (a Lease); it cannot be used with --objects.dir"))
		}
		if o.LeaderElectLeaseName == "" {
			errs = append(errs, errors.New("--leader-elect.lease-name must not be empty"))
		}
		if o.LeaderElectRetryPeriod <= 0 || o.LeaderElectRenewDeadline <= o.LeaderElectRetryPeriod || o.LeaderElectLeaseDuration <= o.LeaderElectRenewDeadline {
			errs = append(errs, errors.New("leader election needs 0 < --leader-elect.retry-period < --leader-elect.renew-deadline < --leader-elect.lease-duration"))
		}
	}
	if len(o.ReplicationPeers) > 0 {
		if !o.LeaderElect {
			errs = append(errs, errors.New("--replication.peer needs --leader-elect: only a leader's record is copied"))
		}
		if o.ReplicationListenAddress == "" {
			errs = append(errs, errors.New("--replication.peer needs --replication.listen-address: followers copy the leader's record from it"))
		}
		for _, p := range o.ReplicationPeers {
			if _, port, err := net.SplitHostPort(p); err != nil || port == "" {
				errs = append(errs, fmt.Errorf("--replication.peer %q: want host:port", p))
			}
		}
	}
	return errors.Join(errs...)
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", s)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}
