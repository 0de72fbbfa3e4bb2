# syntax=docker/dockerfile:1
# The kbus CLI and servers (cmd/kbus) in a small image; docker-compose.yml runs `kbus serve webhooks`
# and `kbus serve sse` from it.
#
#   docker build -t kbus .
#   docker run --rm kbus --help
#
# The runtime stage is Alpine rather than distroless so that a healthcheck can GET /healthz with
# busybox's wget; the image runs as an unprivileged user.

FROM golang:1.26 AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/kbus ./cmd/kbus

FROM alpine:3.22
RUN adduser -D -H -u 10001 kbus
COPY --from=build /out/kbus /usr/local/bin/kbus
USER kbus
ENTRYPOINT ["/usr/local/bin/kbus"]
CMD ["--help"]
