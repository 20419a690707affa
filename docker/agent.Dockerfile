# mumu-agent with the GStreamer it needs (webrtcbin, libnice, x264), the simulated camera by
# default. Build from the top of the repository:
#   docker build -f docker/agent.Dockerfile -t mumu-agent .
#   docker run mumu-agent --server https://cams.example.org      (the pairing code is logged)
# The build stage runs scripts/build-release, the same script CI runs.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY scripts/lib.sh scripts/lib.sh
RUN . scripts/lib.sh && ensure_rust_parts && ensure_gstreamer
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/cache/target \
    CARGO_TARGET_DIR=/cache/target scripts/build-release agent /out

FROM debian:bookworm-slim
# The plugins the agent loads; no -dev packages, no compiler. The agent speaks TLS with the
# Mozilla roots built in, so no CA bundle either.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
      gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-x \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --user-group --uid 10002 --groups video --home-dir /var/lib/mumu-agent \
      --create-home mumu-agent
COPY --from=build /out/ /
ENV MUMU_STATE_DIR=/var/lib/mumu-agent \
    MUMU_SOURCE=test \
    MUMU_HEALTH_FILE=/tmp/mumu-agent.alive
USER mumu-agent
WORKDIR /var/lib/mumu-agent
VOLUME /var/lib/mumu-agent
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s CMD ["mumu-agent", "health"]
ENTRYPOINT ["mumu-agent"]
