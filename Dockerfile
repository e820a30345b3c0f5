# syntax=docker/dockerfile:1
#
# mcast-relay container image: a release build on Debian bookworm, run on
# distroless (glibc, no shell, no package manager) as the non-root user 65532.
# Build for the ECS hosts (see docs/DEPLOY.md):
#   docker buildx build --platform linux/amd64 \
#     --build-arg MCAST_RELAY_GIT_REV="$(git rev-parse --short=12 HEAD)" -t mcast-relay .

FROM rust:1-bookworm AS build
# .git is not sent to the builder; build.rs puts this revision into --version.
ARG MCAST_RELAY_GIT_REV=unknown
WORKDIR /src
COPY . .
# The same build CI runs (deploy/check-image); --locked keeps Cargo.lock authoritative.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
 && install -D -m 0755 target/release/mcast-relay /out/mcast-relay

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="mcast-relay" \
      org.opencontainers.image.description="UDP multicast over TCP, re-emitted as multicast"
COPY --from=build /out/mcast-relay /usr/local/bin/mcast-relay
USER 65532:65532
# 6666 dev feed, 6667 prod feed, 9180 health/metrics/status.
EXPOSE 6666 6667 9180
# No curl in this image: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/mcast-relay", "health-probe"]
ENTRYPOINT ["/usr/local/bin/mcast-relay"]
CMD ["--help"]
