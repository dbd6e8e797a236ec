// Package kube is alertmedic's Kubernetes client: typed reads and writes of
// the few kinds it acts on, over client-go's REST client, with a scheme of
// only those kinds' API groups and a fixed table of their resources. It is
// what controller-runtime's client gives, without linking every API group
// of client-go's clientset and the discovery behind a REST mapper
// (docs/performance.md, "what the idle RSS is made of").
package kube
