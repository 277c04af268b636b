#!/usr/bin/env bash
# Builds prometheus-operator from its Go module into
# .cache/bin/prometheus-operator (make compat; about 2 minutes, once).
#
# Its go.mod replaces its nested modules (pkg/apis/monitoring, pkg/client)
# with local directories, which the module's zip does not contain; it
# requires them at the same version, which the module proxy has.
set -euo pipefail
OPERATOR_VERSION="${OPERATOR_VERSION:-v0.85.0}"
NAME=prometheus-operator MODULE=github.com/prometheus-operator/prometheus-operator VERSION="$OPERATOR_VERSION" \
	PACKAGE=github.com/prometheus-operator/prometheus-operator/cmd/operator exec bash "$(dirname "$0")/build-module-binary.sh"
