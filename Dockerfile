# syntax=docker/dockerfile:1
#
# mcast-relay container image: a release build on Debian bookworm, run on
# distroless (glibc, no shell, no package manager) as the non-root user 65532.
# Build for the ECS hosts (see docs/DEPLOY.md):
#   docker buildx build --platform linux/amd64 \
#     --build-arg MCAST_RELAY_GIT_REV="$(git rev-parse --short=12 HEAD)" \
#     --build-arg MCAST_RELAY_VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)" \
#     -t mcast-relay .
# The binary in it needs glibc 2.34 or later (deploy/check-image checks it):
# customers can copy it out for Amazon Linux 2023 receivers (docs/DEPLOY.md).

# Both bases are pinned by digest, so a rebuild of a tag gets the same bytes;
# refresh on purpose, with the tag's current digest:
#   docker buildx imagetools inspect rust:1.91-bookworm
#   docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
# (deploy/check refuses a FROM without one.)
FROM rust:1.91-bookworm@sha256:c1e5f19e773b7878c3f7a805dd00a495e747acbdc76fb2337a4ebf0418896b33 AS build
# .git is not sent to the builder; build.rs puts this revision into --version.
ARG MCAST_RELAY_GIT_REV=unknown
WORKDIR /src
COPY . .
# The same build CI runs (deploy/check-image); --locked keeps Cargo.lock authoritative.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/mcast-relay /out/mcast-relay

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f
ARG MCAST_RELAY_GIT_REV=unknown
ARG MCAST_RELAY_VERSION=unknown
# The public repository's URL (there is none in Cargo.toml yet).
ARG MCAST_RELAY_SOURCE=""
LABEL org.opencontainers.image.title="mcast-relay" \
      org.opencontainers.image.description="UDP multicast over TCP, re-emitted as multicast" \
      org.opencontainers.image.source="${MCAST_RELAY_SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0" \
      org.opencontainers.image.version="${MCAST_RELAY_VERSION}" \
      org.opencontainers.image.revision="${MCAST_RELAY_GIT_REV}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f"
COPY --from=build /out/mcast-relay /usr/local/bin/mcast-relay
USER 65532:65532
# 6666 dev feed, 6667 prod feed, 9180 health/metrics/status.
EXPOSE 6666 6667 9180
# No curl in this image: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/mcast-relay", "health-probe", "--url", "http://127.0.0.1:9180/healthz"]
ENTRYPOINT ["/usr/local/bin/mcast-relay"]
CMD ["--help"]
