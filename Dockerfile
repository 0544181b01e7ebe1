# Multi-stage build for machines that can pull golang from a registry:
#   docker build -t gantry .
# Without a registry, build the static binary on the host and wrap it in a
# scratch image instead: scripts/build-image.sh (see the README).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/gantry ./cmd/gantry
RUN mkdir -m 1777 /out/tmp

FROM scratch
COPY --from=build /out/gantry /gantry
# A writable /tmp: the process driver keeps its tasks' files there without --data-dir.
COPY --from=build /out/tmp /tmp
# admin API, an HTTP listener, gossip
EXPOSE 7070 8080 7946
ENTRYPOINT ["/gantry"]
CMD ["server", "--dev", "--api-addr", "0.0.0.0:7070"]
