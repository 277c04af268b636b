// Command sidecar is amtenant: it runs next to Alertmanager, polls its API
// and delivers each tenant's alerts to the channels the tenant declared as
// Kubernetes Secrets. This file only parses flags, validates and wires.
package main

import (
	// Time zones of time intervals (location:) without the system zoneinfo,
	// as in a distroless image.
	_ "time/tzdata"

	"context"
	"errors"
	"fmt"
	"github.com/KimMachineGun/automemlimit/memlimit"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"k8s.io/klog/v2"

	"github.com/amtenant/amtenant/election"
	"github.com/amtenant/amtenant/explain"
	"github.com/amtenant/amtenant/poller"
	"github.com/amtenant/amtenant/senders"
	"github.com/amtenant/amtenant/state"
	"github.com/amtenant/amtenant/tenancy"
)

// shutdownGrace bounds how long notifications in flight may finish after
// SIGTERM; Kubernetes' default termination grace period is 30s.
const shutdownGrace = 15 * time.Second

func main() {
	if version.Version == "" {
		version.Version = "dev"
	}
	var o Options
	app := kingpin.New("sidecar", "amtenant: multi-tenant notifications for a shared Alertmanager.")
	app.Version(version.Print("amtenant"))
	app.HelpFlag.Short('h')
	o.register(app)
	runCmd := app.Command("run", "Run the sidecar (the default command).").Default()
	checkCmd := app.Command("check", "Validate channel Secrets in YAML files offline, as the sidecar would; exit 1 on any problem.")
	checkFiles_ := checkCmd.Arg("file", "Manifest files (as for kubectl apply).").Required().ExistingFiles()
	sendCmd := app.Command("send-test", "Send a clearly marked test notification through a channel and print each integration's answer.")
	sendChannel := sendCmd.Flag("channel", "The channel Secret, NAMESPACE/NAME (from --objects.dir, else the Kubernetes API).").Required().String()
	explainCmd := app.Command("explain", "Ask a running sidecar why an alert was or was not notified.")
	explainAlert := explainCmd.Flag("alert", `Matchers selecting the alert, e.g. 'alertname="X",namespace="team-a"'.`).String()
	explainFP := explainCmd.Flag("fingerprint", "The alert's fingerprint.").String()
	explainURL := explainCmd.Flag("url", "Base URL of the running sidecar's web port.").Default("http://127.0.0.1:9097").String()
	cmd, err := app.Parse(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if cmd == runCmd.FullCommand() {
		if err := o.Validate(); err != nil {
			fmt.Fprintln(os.Stderr, "invalid options:\n"+err.Error())
			os.Exit(2)
		}
	} else if err := o.validateCommon(); err != nil {
		fmt.Fprintln(os.Stderr, "invalid options:\n"+err.Error())
		os.Exit(2)
	}
	logger := promslog.New(&o.Log)
	klog.SetSlogLogger(logger.With("component", "client-go"))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	switch cmd {
	case checkCmd.FullCommand():
		n, err := checkFiles(&o, *checkFiles_, os.Stdout)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		if n > 0 {
			fmt.Fprintf(os.Stderr, "%d problem(s)\n", n)
			os.Exit(1)
		}
		fmt.Println("all channels valid")
	case sendCmd.FullCommand():
		if err := sendTest(ctx, &o, *sendChannel, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	case explainCmd.FullCommand():
		if err := explainRemote(ctx, *explainURL, *explainAlert, *explainFP, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	default:
		// Respect the container's memory limit, as Alertmanager does.
		if limit, err := memlimit.SetGoMemLimitWithOpts(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup)); err == nil && limit > 0 {
			logger.Info("GOMEMLIMIT set from the container's memory limit", "bytes", limit)
		}
		setGCPercent(logger)
		if err := run(ctx, &o, logger); err != nil {
			logger.Error("Exiting", "err", err)
			os.Exit(1)
		}
	}
}

func run(sigCtx context.Context, o *Options, logger *slog.Logger) error {
	// Canceled on a signal, and when a component fails: then everything
	// stops and the process exits with the error.
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("amtenant"),
	)
	leader := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "amtenant_leader",
		Help: "1 if this replica delivers notifications. Without leader election every replica does.",
	})
	leader.Set(1)
	reg.MustRegister(leader)

	var (
		src *source
		err error
	)
	if o.ObjectsDir != "" {
		src, err = localSource(ctx, o, logger)
	} else {
		src, err = clusterSource(o, logger)
	}
	if err != nil {
		return err
	}
	defer src.stop()

	var elector *election.Elector
	if o.LeaderElect {
		if elector, err = newElector(o, src, leader, logger); err != nil {
			return err
		}
	}

	tmpl, err := senders.Templates(o.TemplateFiles, o.externalURL)
	if err != nil {
		return fmt.Errorf("load templates: %w", err)
	}

	opts := senders.Options{
		Template:         tmpl,
		Guard:            senders.NewGuard(o.denyCIDRs),
		TenantLabel:      model.LabelName(o.AlertTenantLabel),
		MaxRetryDuration: o.MaxRetryDuration,
		RepeatInterval:   o.RepeatInterval,
		Logger:           logger,
	}
	// The poller is made after the manager; the takeover window reads its
	// current interval.
	var p *poller.Poller
	if elector != nil {
		opts.Leadership = elector
		opts.TakeoverWindow = o.LeaderElectLeaseDuration
		opts.PollInterval = func() time.Duration { return p.Interval() }
	}
	mgr := senders.NewManager(opts, reg)
	var repl *replicated
	if elector != nil && len(o.ReplicationPeers) > 0 {
		if repl, err = newReplication(o, elector, mgr, logger, reg); err != nil {
			return err
		}
	}
	inf := src.informers
	ctrl, err := tenancy.NewController(o.tenancyConfig(), inf.Namespaces, inf.Secrets, inf.Globals, mgr, src.reporter, logger, mgr)
	if err != nil {
		return err
	}
	// Delivery health goes where configuration problems go: Events on the
	// channel's Secret.
	mgr.SetHealth(ctrl)
	ctrl.SetHealth(src.health)
	if inf.Silences != nil {
		if err := ctrl.SetPolicies(inf.Silences, inf.Inhibits); err != nil {
			return err
		}
		if err := ctrl.SetLimits(inf.Limits); err != nil {
			return err
		}
	}
	if err := ctrl.Register(reg, time.Now); err != nil {
		return err
	}
	p = poller.New(poller.Config{
		Interval:    o.PollInterval,
		Budget:      o.PollBudget,
		MaxInterval: o.PollMaxInterval,
		Timeout:     o.PollTimeout,
		Tracker: poller.TrackerConfig{
			ResolveGrace: o.ResolveGrace,
			RestartGrace: o.AlertmanagerRestartGrace,
			Capacity:     o.DedupCapacity,
		},
	}, poller.NewClient(o.amURL, o.AlertmanagerFilter, nil), ctrl, logger.With("component", "poller"), reg)

	var saver *state.Saver
	if o.StateFile != "" {
		saver = restoreState(o, p, mgr, logger, reg)
	}

	ln, err := net.Listen("tcp", o.WebListenAddress)
	if err != nil {
		return fmt.Errorf("listen on --web.listen-address: %w", err)
	}
	srv := &http.Server{Handler: webHandler(reg, func() error {
		return ready(ctrl.HasSynced(), p.LastSuccess(), time.Now(), p.Interval())
	}, explain.Handler(p, ctrl, mgr, replicaOf(elector, repl), time.Now), o.WebEnablePprof), ReadHeaderTimeout: 10 * time.Second}

	inf.Run(ctx.Done())
	mgr.Start(ctx)
	errc := make(chan error, 4)
	if repl != nil {
		repl.run(ctx, errc)
	}
	go func() { errc <- ctrl.Run(ctx) }()
	go func() { errc <- src.run(ctx) }()
	go func() {
		noSocket := false
		flags := &web.FlagConfig{WebListenAddresses: &[]string{o.WebListenAddress}, WebSystemdSocket: &noSocket, WebConfigFile: &o.WebConfigFile}
		if err := web.Serve(ln, srv, flags, logger.With("component", "web")); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("web server: %w", err)
		}
	}()
	logger.Info("Starting amtenant", "version", version.Info(), "alertmanager", o.amURL.Redacted(),
		"mode", mode(o), "namespace", o.Namespace, "web", ln.Addr().String())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	go releaseAfterStart(ctx, func() bool { return ctrl.HasSynced() && !p.LastSuccess().IsZero() }, logger.With("component", "memory"))
	if saver != nil {
		go saver.Run(ctx)
	}
	// The election outlives ctx: the Lease is given up only once this
	// replica has stopped delivering and saved its state.
	electCtx, stopElection := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElection()
	elected := make(chan struct{})
	if elector != nil {
		go func() { elector.Run(electCtx); close(elected) }()
	} else {
		close(elected)
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	logger.Info("Shutting down")
	stop := context.WithoutCancel(ctx)
	<-done
	mgr.Stop(shutdownGrace)
	if saver != nil {
		if err := saver.Final(); err == nil {
			logger.Info("Delivery state saved", "file", o.StateFile)
		}
	}
	stopElection()
	select {
	case <-elected:
	case <-time.After(5 * time.Second):
		logger.Warn("Giving up the Lease took too long; another replica takes over when it expires")
	}
	sctx, cancel := context.WithTimeout(stop, 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if repl != nil {
		repl.stop()
	}
	return runErr
}

func mode(o *Options) string {
	if o.ObjectsDir != "" {
		return "local (" + o.ObjectsDir + ")"
	}
	return "kubernetes"
}

// ready is the /readyz verdict: channels loaded and a poll succeeded within
// the last three intervals.
func ready(synced bool, lastPoll, now time.Time, interval time.Duration) error {
	if !synced {
		return errors.New("channels not loaded yet")
	}
	if lastPoll.IsZero() {
		return errors.New("no successful poll of Alertmanager yet")
	}
	if age := now.Sub(lastPoll); age > 3*interval {
		return fmt.Errorf("last successful poll of Alertmanager was %s ago", age.Round(time.Second))
	}
	return nil
}

func webHandler(reg *prometheus.Registry, readyFn func() error, explainer http.Handler, enablePprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(explain.Path, explainer)
	if enablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := readyFn(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}
