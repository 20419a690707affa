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

# The web app's build tools: cargo-leptos and the wasm-bindgen CLI of the version in Cargo.lock
# (trunk, for the client-rendered build, only when asked: `ensure_front_tools trunk`). Prebuilt
# copies come from ../shared/tools when this checkout sits beside one; otherwise they are built
# from crates.io once (about 15 minutes, 6 more for trunk).
ensure_front_tools() {
  if [ -x ../shared/tools/install ] && ! command -v cargo-leptos >/dev/null; then
    ../shared/tools/install >/dev/null
  fi
  command -v cargo-leptos >/dev/null || cargo install cargo-leptos --version 0.3.10 --locked
  if [ "${1:-}" = trunk ]; then
    command -v trunk >/dev/null || cargo install trunk --version 0.21.14 --locked
  fi
  local want
  want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$want"; then
    # --locked fails for 0.2.130: its lockfile pins a webpki-roots the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# The NAT lab (probe/tests/nat_lab.rs): coturn, iptables and iproute2. It builds network
# namespaces, so it runs only as root; there, it must run (MUMU_NAT_LAB=required).
ensure_nat_lab() {
  apt_install coturn iptables iproute2
  if [ "$(id -u)" = 0 ]; then export MUMU_NAT_LAB="${MUMU_NAT_LAB:-required}"; fi
}

# Debian's headless Chromium and its WebDriver, for the web app's browser test and benchmark.
ensure_browser() {
  apt_install chromium chromium-driver
}

# wasm-opt (release builds of the web app): npm's binaryen, since Debian's is too old for
# current rustc output.
ensure_wasm_opt() {
  command -v wasm-opt >/dev/null && return 0
  command -v npm >/dev/null || apt_install nodejs npm
  as_root npm install -g --silent binaryen@132 >/dev/null
}

# The several-servers tests (probe/tests/several_servers.rs): Debian's nginx in front of three
# servers, and a redis-server of their own they can kill and start again.
ensure_cluster_tools() {
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx
  command -v redis-server >/dev/null || apt_install redis-server
}
