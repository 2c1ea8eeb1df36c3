#!/usr/bin/env bash
# Build the pinned kubo from the Go module proxy with this machine's Go, once.
#
# The binary lives outside the repository, keyed by version, so a second run (and CI
# on a machine that kept its cache) costs nothing. Prints the binary's path.
#
#   IPWHL_CACHE   cache root (default: ~/.cache/ipwhl)
#   KUBO_VERSION  override the pin (tests expect the pin; change both together)
set -euo pipefail

# The pin: >= 0.40 for the IPIP-499 profiles and the kubo >= 0.40 sharding rules.
# `go list -m -versions github.com/ipfs/kubo` lists what the proxy has. Not v0.43.1:
# its go.mod replaces go-libp2p with a personal fork the module proxy does not serve.
version="${KUBO_VERSION:-v0.43.0}"
cache="${IPWHL_CACHE:-$HOME/.cache/ipwhl}"
dest="$cache/kubo/$version"
bin="$dest/ipfs"

if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
fi

if ! command -v go >/dev/null; then
    echo "error: kubo.sh needs Go (kubo $version needs Go >= 1.26)" >&2
    echo "    fix: install Go >= 1.26 and run again" >&2
    exit 2
fi

mkdir -p "$dest"
# A developer's machine is shared: one package at a time keeps the build from starving
# others. CI has the machine to itself and the clock running: use every core there.
jobs=1
if [[ -n "${CI:-}" ]]; then jobs="$(nproc)"; fi
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-p=$jobs -buildvcs=false"
export CGO_ENABLED="${CGO_ENABLED:-0}"
tmp="$(mktemp -d "$dest/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "building kubo $version (takes minutes, once)" >&2
# `go install pkg@version` refuses modules whose go.mod has replace directives; kubo's
# may, so try it and fall back to building inside the downloaded module.
if ! GOBIN="$tmp" go install "github.com/ipfs/kubo/cmd/ipfs@$version" 2>"$tmp/install.log"; then
    cat "$tmp/install.log" >&2
    echo "go install refused; building inside the downloaded module" >&2
    moddir="$(cd "$tmp" && go mod download -json "github.com/ipfs/kubo@$version" \
        | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')"
    if [[ -z "$moddir" ]]; then
        echo "error: could not download github.com/ipfs/kubo@$version" >&2
        echo "    fix: check that the Go module proxy has that version" >&2
        exit 2
    fi
    # The module cache is read-only; build from it without writing into it.
    (cd "$moddir" && go build -mod=mod -o "$tmp/ipfs" ./cmd/ipfs)
fi
# Rename is atomic: a reader never sees half a binary at the cached path.
mv "$tmp/ipfs" "$bin"
"$bin" version >&2
echo "$bin"
