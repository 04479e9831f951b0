# syntax=docker/dockerfile:1
#
# Gatehouse container image: a static binary on distroless, running as a
# non-root user.
#
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#                --build-arg COMMIT=$(git rev-parse HEAD) -t gatehouse .
#   docker run -p 8080:8080 -v $PWD/config:/etc/gatehouse:ro \
#                -v gatehouse-data:/var/lib/gatehouse gatehouse
#
# `make docker` runs the build with both arguments set.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/etc/gatehouse /out/var/lib/gatehouse

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="API gateway and OAuth 2.0 authorization server, compatible with Express Gateway" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
# nonroot is uid/gid 65532 in distroless.
COPY --from=build --chown=65532:65532 /out/etc/gatehouse /etc/gatehouse
COPY --from=build --chown=65532:65532 /out/var/lib/gatehouse /var/lib/gatehouse
USER 65532:65532
# The config directory (gateway.config.yml, system.config.yml, models/, views/)
# and the embedded store's data directory (gatehouse.db).
ENV EG_CONFIG_DIR=/etc/gatehouse
VOLUME ["/etc/gatehouse", "/var/lib/gatehouse"]
# http, https, admin (Admin API, /metrics, /healthz, /readyz)
EXPOSE 8080 8443 9876
ENTRYPOINT ["/usr/local/bin/gatehouse", "serve", "--data-dir", "/var/lib/gatehouse"]
