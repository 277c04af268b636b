#!/usr/bin/env bash
# Builds kube-apiserver from the k8s.io/kubernetes Go module into
# .cache/bin/kube-apiserver for the integration suite.
#
# k8s.io/kubernetes cannot be `go install`ed: its go.mod replaces the
# staging modules (k8s.io/api, k8s.io/apiserver, …) with local directories.
# build-module-binary.sh replaces each with its published version of the
# same release (v1.X.Y ↔ v0.X.Y). On 2 cores the build takes about 10
# minutes; the binary is cached.
set -euo pipefail
K8S_VERSION="${K8S_VERSION:-v1.36.3}"
NAME=kube-apiserver MODULE=k8s.io/kubernetes VERSION="$K8S_VERSION" PACKAGE=k8s.io/kubernetes/cmd/kube-apiserver \
	LOCAL_VERSION="v0.${K8S_VERSION#v1.}" exec bash "$(dirname "$0")/build-module-binary.sh"
