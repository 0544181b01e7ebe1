#!/usr/bin/env bash
# Builds the gantry image without a registry: a static binary built on the
# host, copied into a FROM scratch image.
#   scripts/build-image.sh [TAG]      (default tag: gantry:dev)
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-gantry:dev}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
version="$(git describe --always --dirty 2>/dev/null || echo dev)"
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${version}" -o "$ctx/gantry" ./cmd/gantry
cp scripts/Dockerfile.scratch "$ctx/Dockerfile"
mkdir -m 1777 "$ctx/tmp"
docker build -q -t "$tag" "$ctx" >/dev/null
echo "$tag"
