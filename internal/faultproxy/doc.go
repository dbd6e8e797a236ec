// Package faultproxy is a loopback reverse proxy between a Kubernetes client
// and a real kube-apiserver, for tests that prove behaviour under API faults.
// Rules matched per request delay it, answer it with any status (a real
// metav1.Status body), cut its connection, or forward it and then answer 504
// or drop the answer, so that a write is applied while the client believes
// it failed. Down and Up make the server unreachable and bring it back.
package faultproxy
