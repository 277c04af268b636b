// Package mixin holds the monitoring of amtenant itself: the alerting rules
// (alerts.yaml, a Prometheus rule file, and prometheusrule.yaml, the same
// rules for prometheus-operator) and a Grafana dashboard (dashboard.json).
// Its Go code reads them back with Prometheus's own parsers, so that tests
// can check every rule and every panel against the metrics the sidecar
// really exposes.
package mixin
