# Shared by scripts/run, scripts/test and .ci/run: put what MuMu builds with in place when it is
# missing, on Debian/Ubuntu with Rust installed. Everything here is idempotent and quick when
# there is nothing to do.

# Build output lives outside the checkout, so a fresh clone reuses an earlier build.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mumu-target}"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_rust_parts() {
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
  rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown
}

# GStreamer with the plugins the camera agent uses (webrtcbin, x264enc, libnice), and the
# development files its Rust bindings link against.
ensure_gstreamer() {
  apt_install pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev \
    libgstreamer-plugins-bad1.0-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# PostgreSQL and Redis on their standard ports, for the tests' "scaled" stack. Where they run
# already (CI, a developer machine) nothing happens; elsewhere Debian's packages are installed
# and started, and the tests are pointed at them.
ensure_services() {
  if ! port_open 6379; then
    apt_install redis-server
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  fi
  if ! port_open 5432; then
    apt_install postgresql
    local version
    version=$(ls /etc/postgresql | sort -n | tail -1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || as_root pg_ctlcluster "$version" main start
    as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
    as_root su postgres -c "psql -lqt | cut -d'|' -f1 | grep -qw test || createdb test"
    export MUMU_TEST_POSTGRES_URL="${MUMU_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/test}"
  fi
  for _ in $(seq 1 30); do
    port_open 5432 && port_open 6379 && return 0
    sleep 1
  done
  echo "PostgreSQL (5432) or Redis (6379) did not come up" >&2
  return 1
}
