#!/usr/bin/env bash
# Builds Prometheus from its Go module into .cache/bin/prometheus for the
# proof against a real Prometheus (make compat).
#
# Prometheus cannot be `go install`ed: its go.mod pins cloud.google.com/go
# with a replace directive. A throwaway module that requires it carries the
# same replace. Built without the UI assets (served from disk, absent
# here: the API and rule evaluation do not need them) and without service
# discovery plugins (static targets only), which halves the build.
set -euo pipefail
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.314.0}" # Prometheus v3.14.0
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.cache/bin/prometheus"
STAMP="$OUT.version"
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$PROMETHEUS_VERSION" ]]; then
	exit 0
fi
WORK="$ROOT/.cache/prometheus-build"
rm -rf "$WORK"
mkdir -p "$WORK" "$ROOT/.cache/bin"
cd "$WORK"
echo "Building Prometheus $PROMETHEUS_VERSION (cached in .cache/bin)..."
MOD="github.com/prometheus/prometheus"
go mod download -json "$MOD@$PROMETHEUS_VERSION" >/dev/null
MODFILE="$(go env GOMODCACHE)/cache/download/$MOD/@v/$PROMETHEUS_VERSION.mod"
GOVERSION="$(awk '/^go /{print $2; exit}' "$MODFILE")"
{
	printf 'module amtenant.local/prometheus-build\n\ngo %s\n\nrequire %s %s\n\n' "$GOVERSION" "$MOD" "$PROMETHEUS_VERSION"
	grep -E '^replace ' "$MODFILE" || true
} > go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/prometheus"\n' "$MOD" > tools.go
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "$MOD/cmd/prometheus@$PROMETHEUS_VERSION"
GOFLAGS=-mod=mod go build -tags remove_all_sd -trimpath -ldflags="-s -w" -o "$OUT" "$MOD/cmd/prometheus"
echo "$PROMETHEUS_VERSION" > "$STAMP"
echo "Prometheus $PROMETHEUS_VERSION built: $OUT"
