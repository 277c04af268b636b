package main

import (
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

func parse(t *testing.T, args ...string) *Options {
	t.Helper()
	var o Options
	app := kingpin.New("sidecar", "")
	o.register(app)
	if _, err := app.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return &o
}

func TestOptionsDefaults(t *testing.T) {
	t.Setenv("POD_NAMESPACE", "monitoring")
	o := parse(t, "--objects.dir="+t.TempDir())
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"alertmanager.url", o.amURL.String(), "http://127.0.0.1:9093"},
		{"external-url defaults to url", o.externalURL.String(), "http://127.0.0.1:9093"},
		{"restart-grace", o.AlertmanagerRestartGrace, 2 * time.Minute},
		{"poll.interval", o.PollInterval, 10 * time.Second},
		{"poll.timeout", o.PollTimeout, 10 * time.Second},
		{"web.listen-address", o.WebListenAddress, ":9097"},
		{"namespace from POD_NAMESPACE", o.Namespace, "monitoring"},
		{"group-wait", o.GroupWait, 10 * time.Second},
		{"group-interval", o.GroupInterval, 5 * time.Minute},
		{"repeat-interval", o.RepeatInterval, 4 * time.Hour},
		{"resolve-grace", o.ResolveGrace, 30 * time.Second},
		{"max-retry-duration", o.MaxRetryDuration, time.Hour},
		{"dedup.capacity", o.DedupCapacity, 100000},
		{"deny cidrs", len(o.denyCIDRs), 8},
		{"log.level", o.Log.Level.String(), "info"},
		{"log.format", o.Log.Format.String(), "logfmt"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestOptionsRoutePrefixAndFilters(t *testing.T) {
	o := parse(t, "--objects.dir="+t.TempDir(), "--alertmanager.url=https://am.example:9093/alertmanager/",
		"--alertmanager.filter=severity=\"critical\"", "--alertmanager.filter=team=~\"a|b\"")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if o.amURL.Path != "/alertmanager" || len(o.AlertmanagerFilter) != 2 {
		t.Errorf("url path %q, filters %v", o.amURL.Path, o.AlertmanagerFilter)
	}
}

func TestOptionsValidateErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad url scheme", []string{"--alertmanager.url=ftp://x"}, "--alertmanager.url"},
		{"url without host", []string{"--alertmanager.url=http://"}, "no host"},
		{"bad filter", []string{"--alertmanager.filter=sev=~\"(\""}, "--alertmanager.filter"},
		{"zero interval", []string{"--poll.interval=0s"}, "--poll.interval must be greater than 0"},
		{"negative grace", []string{"--notify.resolve-grace=-1s"}, "--notify.resolve-grace must not be negative"},
		{"zero capacity", []string{"--dedup.capacity=0"}, "--dedup.capacity"},
		{"bad cidr", []string{"--security.tenant-deny-cidrs=10.0.0.0/33"}, "--security.tenant-deny-cidrs"},
		{"missing dir", []string{"--objects.dir=/nonexistent/amtenant"}, "not a readable directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if !strings.HasPrefix(args[0], "--objects.dir") {
				args = append([]string{"--objects.dir=" + dir}, args...)
			}
			err := parse(t, args...).Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestReady(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		synced   bool
		lastPoll time.Time
		ok       bool
	}{
		{"not synced", false, now, false},
		{"never polled", true, time.Time{}, false},
		{"recent poll", true, now.Add(-25 * time.Second), true},
		{"stale poll", true, now.Add(-31 * time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ready(tt.synced, tt.lastPoll, now, 10*time.Second)
			if (err == nil) != tt.ok {
				t.Fatalf("ready() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
