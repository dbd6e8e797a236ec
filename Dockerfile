# syntax=docker/dockerfile:1
#
# alertmedic's container image: a static binary on distroless "static"
# (no shell, no libc, no package manager), running as the non-root user
# 65532. Build it with the version stamped the way `make build` does:
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" \
#     -t registry.example.com/platform/alertmedic:v0.1.0 .
#
# Pin the two base images by digest in your own build for reproducibility.
# test/deploy checks that the go build below yields a static binary that
# runs without libc as UID 65532.

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/alertmedic ./cmd/alertmedic

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/alertmedic /usr/local/bin/alertmedic
# Numeric, so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/alertmedic"]
CMD ["serve", "--listen=:8080", "--rules=/etc/alertmedic/rules", "--token-file=/etc/alertmedic/webhook/token"]
