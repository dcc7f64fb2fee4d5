# Container image of s2s-authorizer: the one binary, run as a Code Engine app (serve, the
# default) or job (job).
#
# The release process should pin each base image by digest (NAME:TAG@sha256:…) so that a
# rebuild cannot silently pick up a different image; the tags below say which release is meant.

# The build stage uses the Go release the binary must be built with (see scripts/build.sh).
FROM golang:1.27.3-bookworm AS build
WORKDIR /src

# Modules first, in their own layer, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

# VERSION is stamped into the binary (docker build --build-arg VERSION=$(git describe …));
# the context holds no .git, so without it the binary says "dev".
ARG VERSION
# Set by BuildKit for the platform being built; the script defaults to linux/amd64 without them.
ARG TARGETOS
ARG TARGETARCH
RUN GOOS="${TARGETOS:-linux}" GOARCH="${TARGETARCH:-amd64}" bash scripts/build.sh /out/s2s-authorizer

# Runtime: no shell, no package manager, CA certificates for the IBM Cloud APIs, and the
# non-root user 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/s2s-authorizer /s2s-authorizer
USER 65532:65532
# Code Engine sends requests to $PORT, 8080 unless the app is created with another --port.
EXPOSE 8080
ENTRYPOINT ["/s2s-authorizer"]
CMD ["serve"]
