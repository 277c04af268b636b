// Package tenancy decides who receives what: the tenant of each alert
// (from its namespace's labels), the channels each tenant and admin
// declared as Secrets, and the isolation rules between them. It reads
// Namespaces and Secrets through client-go informers, fed either by the
// Kubernetes API or, in local mode, by YAML files loaded into an
// in-memory clientset: one implementation of the rules, two sources.
package tenancy
