# coturn for docker/compose.yaml: Debian 12's coturn, the same build the NAT lab tests run, with
# MuMu's configuration (docker/coturn/turnserver.conf). The shared secret comes at start-up
# (compose passes TURN_SECRET); nothing secret is in the image.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends coturn \
 && rm -rf /var/lib/apt/lists/*
COPY docker/coturn/turnserver.conf /etc/coturn/turnserver.conf
COPY docker/coturn/start /usr/local/bin/mumu-coturn
USER turnserver
HEALTHCHECK --interval=15s --timeout=3s CMD ["turnutils_stunclient", "-p", "3478", "127.0.0.1"]
ENTRYPOINT ["mumu-coturn"]
