// Package policy holds what a tenant declares about when it hears nothing:
// silences and inhibition rules (labelled ConfigMaps in its namespaces)
// and the mute and active time intervals of its channels. Everything is
// evaluated with Alertmanager's own packages: matchers from pkg/labels,
// inhibit rules from inhibit and config, time intervals from timeinterval.
// The package decides; tenancy applies the decision to routing and
// explain alike, and the senders hold notifications of muted channels.
package policy
