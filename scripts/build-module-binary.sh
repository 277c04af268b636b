#!/usr/bin/env bash
# Builds a command from a Go module that cannot be `go install`ed (its
# go.mod has replace directives) into .cache/bin/NAME, once per version.
#
# A throwaway module requires the command's module at VERSION and carries
# its replace directives: those to another module version as they are;
# those to a local directory (a nested or staging module, which the
# module's zip does not contain) to the same module at LOCAL_VERSION from
# the module proxy, or dropped when LOCAL_VERSION is empty (the module
# requires them at a published version anyway).
#
#   NAME=… MODULE=… VERSION=… PACKAGE=… [LOCAL_VERSION=…] [TAGS=…] build-module-binary.sh
set -euo pipefail
: "${NAME:?}" "${MODULE:?}" "${VERSION:?}" "${PACKAGE:?}"
LOCAL_VERSION="${LOCAL_VERSION:-}"
TAGS="${TAGS:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="$ROOT/.cache/bin/$NAME"
STAMP="$OUT.version"
if [[ -x "$OUT" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
	exit 0
fi
WORK="$ROOT/.cache/$NAME-build"
rm -rf "$WORK"
mkdir -p "$WORK" "$ROOT/.cache/bin"
cd "$WORK"
echo "Building $NAME $VERSION from $MODULE (once; cached in .cache/bin)..."
go mod download -json "$MODULE@$VERSION" >/dev/null
MODFILE="$(go env GOMODCACHE)/cache/download/$MODULE/@v/$VERSION.mod"
GOVERSION="$(awk '/^go /{print $2; exit}' "$MODFILE")"
{
	printf 'module amtenant.local/%s-build\n\ngo %s\n\nrequire %s %s\n\n' "$NAME" "$GOVERSION" "$MODULE" "$VERSION"
	# Every replace, in its one-line or block form, as "old => new".
	awk '/^replace \($/{b=1; next} b&&/^\)$/{b=0; next} b{print; next} /^replace /{sub(/^replace /,""); print}' "$MODFILE" |
		while read -r line; do
			old="${line%% =>*}"; new="${line#*=> }"
			old="${old%% *}" # a replace of one version of the module only
			if [[ "$new" != ./* && "$new" != ../* ]]; then
				echo "replace $old => $new"
			elif [[ -n "$LOCAL_VERSION" ]]; then
				echo "replace $old => $old $LOCAL_VERSION"
			fi
		done
} > go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$PACKAGE" > tools.go
GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "$PACKAGE@$VERSION"
GOFLAGS=-mod=mod go build ${TAGS:+-tags "$TAGS"} -trimpath -ldflags="-s -w" -o "$OUT" "$PACKAGE"
echo "$VERSION" > "$STAMP"
echo "$NAME $VERSION built: $OUT"
