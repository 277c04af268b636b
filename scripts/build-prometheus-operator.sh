#!/usr/bin/env bash
# Builds prometheus-operator from its Go module into
# .cache/bin/prometheus-operator for the integration suite.
#
# The operator cannot be `go install`ed: its go.mod replaces its nested
# modules (pkg/apis/monitoring, pkg/client) with local directories, which
# the module's zip does not contain. A throwaway module that requires it
# gets those modules at the same version from the module proxy instead.
set -euo pipefail
OPERATOR_VERSION="${OPERATOR_VERSION:-v0.85.0}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.cache/bin/prometheus-operator"
STAMP="$OUT.version"
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$OPERATOR_VERSION" ]]; then
	exit 0
fi
WORK="$ROOT/.cache/prometheus-operator-build"
rm -rf "$WORK"
mkdir -p "$WORK" "$ROOT/.cache/bin"
cd "$WORK"
echo "Building prometheus-operator $OPERATOR_VERSION (cached in .cache/bin)..."
MOD="github.com/prometheus-operator/prometheus-operator"
go mod download -json "$MOD@$OPERATOR_VERSION" >/dev/null
MODFILE="$(go env GOMODCACHE)/cache/download/$MOD/@v/$OPERATOR_VERSION.mod"
GOVERSION="$(awk '/^go /{print $2; exit}' "$MODFILE")"
printf 'module amtenant.local/prometheus-operator-build\n\ngo %s\n\nrequire %s %s\n' "$GOVERSION" "$MOD" "$OPERATOR_VERSION" > go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/operator"\n' "$MOD" > tools.go
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "$MOD/cmd/operator@$OPERATOR_VERSION"
GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$OUT" "$MOD/cmd/operator"
echo "$OPERATOR_VERSION" > "$STAMP"
echo "prometheus-operator $OPERATOR_VERSION built: $OUT"
