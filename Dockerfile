# amtenant sidecar image. Build: docker build --build-arg VERSION=$(git describe --tags --always) .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
# The same command as the empty-root test (integration/image_test.go) runs.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.Branch=main" -o /out/sidecar ./cmd/sidecar

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="amtenant" \
      org.opencontainers.image.description="Multi-tenant notifications for a shared Prometheus Alertmanager" \
      org.opencontainers.image.source="https://github.com/amtenant/amtenant" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/sidecar /bin/sidecar
USER 65532:65532
EXPOSE 9097
ENTRYPOINT ["/bin/sidecar"]
