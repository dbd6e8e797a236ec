// Package testcluster starts a real kube-apiserver and etcd (controller-runtime's
// envtest) for tests, from binaries built by hack/envtest-assets.sh and cached
// outside the repository. It never skips: a test that needs a cluster and
// cannot get one fails, saying why.
package testcluster
