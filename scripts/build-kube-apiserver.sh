#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes Go module into
# .cache/bin/kube-apiserver for the integration suite.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the
# staging modules (k8s.io/api, k8s.io/apiserver, …) with local directories.
# This script makes a throwaway module that requires k8s.io/kubernetes and
# replaces each staging module with its published version of the same
# release (v1.X.Y ↔ v0.X.Y). On 2 cores the build takes about 10 minutes;
# the binary is cached.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.36.3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.cache/bin/kube-apiserver"
STAMP="$OUT.version"
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$K8S_VERSION" ]]; then
	exit 0
fi
STAGING_VERSION="v0.${K8S_VERSION#v1.}"
WORK="$ROOT/.cache/kube-apiserver-build"
rm -rf "$WORK"
mkdir -p "$WORK" "$ROOT/.cache/bin"
cd "$WORK"
echo "Building kube-apiserver $K8S_VERSION (cached in .cache/bin; about 10 minutes on 2 cores)..."
go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
MODFILE="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
GOVERSION="$(awk '/^go /{print $2; exit}' "$MODFILE")"
{
	echo "module amtenant.local/kube-apiserver-build"
	echo
	echo "go $GOVERSION"
	echo
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo
	grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$MODFILE" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/kube-apiserver"
GO
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION"
GOFLAGS=-mod=mod go build -trimpath -ldflags="-s -w" -o "$OUT" k8s.io/kubernetes/cmd/kube-apiserver
echo "$K8S_VERSION" > "$STAMP"
echo "kube-apiserver $K8S_VERSION built: $OUT"
