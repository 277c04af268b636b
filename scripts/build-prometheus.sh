#!/usr/bin/env bash
# Builds Prometheus from its Go module into .cache/bin/prometheus (make
# compat; about 2 minutes, once).
#
# Its go.mod pins cloud.google.com/go with a replace, which the build
# module carries. Built without the UI assets (served from disk, absent
# here: the API and rule evaluation do not need them) and without the
# service discovery plugins (static targets only), which halves the build.
set -euo pipefail
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.314.0}" # Prometheus v3.14.0
NAME=prometheus MODULE=github.com/prometheus/prometheus VERSION="$PROMETHEUS_VERSION" \
	PACKAGE=github.com/prometheus/prometheus/cmd/prometheus TAGS=remove_all_sd exec bash "$(dirname "$0")/build-module-binary.sh"
