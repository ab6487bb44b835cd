# syntax=docker/dockerfile:1
# Build: docker build -t authgate .
# Run:   docker run -p 8080:8080 -v "$PWD/gateway.yaml:/etc/authgate/gateway.yaml:ro" authgate

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/authgate . \
 && sed 's/"127.0.0.1:8080"/"0.0.0.0:8080"/' gateway.yaml > /out/gateway.yaml

# distroless/static: no shell, no package manager; "nonroot" is uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authgate /usr/local/bin/authgate
# The demo config, listening on all interfaces; mount your own over it.
COPY --from=build /out/gateway.yaml /etc/authgate/gateway.yaml
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
  CMD ["/usr/local/bin/authgate", "healthcheck", "-url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/authgate"]
CMD ["-config", "/etc/authgate/gateway.yaml"]
