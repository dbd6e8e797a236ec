package kube

import "k8s.io/apimachinery/pkg/runtime/schema"

// ResourceOf is the table's resource of a kind, for the tests.
func ResourceOf(gk schema.GroupKind) (resource string, namespaced, ok bool) {
	r, ok := resources[gk]
	return r.resource, r.namespaced, ok
}

// Kinds are the table's kinds.
func Kinds() []schema.GroupKind {
	var out []schema.GroupKind
	for gk := range resources {
		out = append(out, gk)
	}
	return out
}
