# mumu-server with the web app, for docker/compose.yaml. Build from the top of the repository:
#   docker build -f docker/server.Dockerfile -t mumu-server .
# The build stage runs scripts/build-release, the same script CI runs; the last stage holds the
# stripped binary, the built site and nothing to compile with.

FROM rust:1.95-bookworm AS build
WORKDIR /src
# The build tools first (wasm-bindgen, wasm-opt, Brotli, zopfli, the wasm32 target), in a layer of
# their own that a source change does not invalidate.
COPY scripts/lib.sh scripts/lib.sh
COPY Cargo.lock Cargo.lock
RUN . scripts/lib.sh && ensure_rust_parts && ensure_wasm_bindgen && ensure_wasm_opt && \
    apt_install brotli zopfli
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/cache/target \
    CARGO_TARGET_DIR=/cache/target scripts/build-release server /out

FROM debian:bookworm-slim
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/mumu --create-home mumu
COPY --from=build /out/ /
ENV MUMU_LISTEN=0.0.0.0:8080 \
    MUMU_DATA_DIR=/var/lib/mumu \
    LEPTOS_SITE_ROOT=/usr/share/mumu/site \
    LEPTOS_ENV=PROD
USER mumu
WORKDIR /var/lib/mumu
VOLUME /var/lib/mumu
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["mumu-server", "check-ready"]
ENTRYPOINT ["mumu-server"]
