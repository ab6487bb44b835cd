# syntax=docker/dockerfile:1
# Build: docker build -t authgate .
# Run:   docker run -p 8080:8080 -e AUTHGATE_SECRET="$(openssl rand -base64 48)" \
#          -v "$PWD/gateway.yaml:/etc/authgate/gateway.yaml:ro" authgate
# The image ships no config: without one mounted at /etc/authgate/gateway.yaml
# it refuses to start (the demo's published password never listens on all
# interfaces). Base images are fully qualified, so podman and other
# non-Docker builders resolve them too.
#
# Pin the base images by digest (README, "Container"): a tag moves, a digest
# names one image. Read each digest from the registry, never from a web
# page, and pass it in:
#   docker buildx imagetools inspect docker.io/library/golang:1.26   # or: crane digest ...
#   docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot
#   docker build --build-arg GO_DIGEST=sha256:... --build-arg RUNTIME_DIGEST=sha256:... -t authgate .
# Left empty, the tags are used as they stand on the day of the build.
ARG GO_DIGEST
ARG RUNTIME_DIGEST

FROM docker.io/library/golang:1.26${GO_DIGEST:+@}${GO_DIGEST} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/authgate .

# distroless/static: no shell, no package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot${RUNTIME_DIGEST:+@}${RUNTIME_DIGEST}
COPY --from=build /out/authgate /usr/local/bin/authgate
USER nonroot:nonroot
EXPOSE 8080
# Probes the health endpoint of whatever listener the mounted config names.
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/authgate", "healthcheck", "-config", "/etc/authgate/gateway.yaml"]
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["-config", "/etc/authgate/gateway.yaml"]
