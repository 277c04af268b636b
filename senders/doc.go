// Package senders turns channel declarations into Alertmanager's own
// notification integrations and delivers to them: grouping, group-wait
// batching, repeats, retries with backoff, and the network rules that keep
// tenant channels away from the pod's own services.
//
// Channel configuration is Alertmanager's receiver schema, parsed and
// built by Alertmanager's config and notify packages, so that every
// integration behaves exactly as it does in Alertmanager.
package senders
