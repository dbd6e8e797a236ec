# Shared by hack/envtest-assets.sh and hack/cluster-assets.sh, which set
# DIR (where the binaries go) and define log before sourcing it.

# go_build OUT PKG STEP WHAT: builds PKG into $DIR/OUT, saying which step
# of the first run it is (envtest-assets.sh counts 1-3, cluster-assets.sh
# 4-6) and how long it took. With LDFLAGS set, they are passed to the build.
go_build() {
  local start=$SECONDS
  log "building $1 $4 ($3)…"
  CGO_ENABLED=0 go build -ldflags "${LDFLAGS:-}" -o "$DIR/$1.tmp" "$2"
  mv "$DIR/$1.tmp" "$DIR/$1"
  log "built $1 in $((SECONDS - start))s"
}

# kube_module NAME CMD...: makes the current folder a module that requires
# k8s.io/kubernetes $KUBE_VERSION and imports its commands CMD (such as
# kube-apiserver), ready to build them.
kube_module() {
  local name=$1; shift
  go mod init "alertmedic.local/$name" >/dev/null 2>&1
  # k8s.io/kubernetes replaces its staging modules with ./staging paths that
  # do not exist in the module zip; point each at the published module.
  local gomod staging="v0.${KUBE_VERSION#v1.}"
  gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
  {
    echo "require k8s.io/kubernetes ${KUBE_VERSION}"
    echo "replace ("
    sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/.*#\t\1 => \1 '"${staging}"'#p' "$gomod"
    echo ")"
  } >>go.mod
  {
    printf '//go:build tools\n\npackage tools\n\nimport (\n'
    for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
    printf ')\n'
  } >tools.go
  go mod tidy -e >&2 || true
}

# kube_ldflags: the -X flags that stamp a Kubernetes command with
# $KUBE_VERSION, as Kubernetes' own release build does. Unstamped, the API
# server reports v0.0.0-master on /version, and Helm refuses a chart whose
# kubeVersion asks for a release.
kube_ldflags() {
  local v="${KUBE_VERSION#v}" pkg=k8s.io/component-base/version
  local major="${v%%.*}" rest="${v#*.}"
  echo "-X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=${rest%%.*} -X $pkg.gitTreeState=clean"
}
