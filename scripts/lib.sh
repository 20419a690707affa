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
  local native
  native=$(dpkg --print-architecture)
  for pkg in "$@"; do
    # With a second architecture, a package installed for both answers only by its full name.
    dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "$pkg:$native" >/dev/null 2>&1 || missing+=("$pkg")
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
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-x gstreamer1.0-libav \
    gstreamer1.0-tools gstreamer1.0-plugins-base-apps
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

# The wasm-bindgen CLI of the version in Cargo.lock, which scripts/build-site runs on the app's
# WASM. A prebuilt copy comes from ../shared/tools when this checkout sits beside one; otherwise
# it is built from crates.io once (about 2 minutes).
ensure_wasm_bindgen() {
  local want
  want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
  wasm-bindgen --version 2>/dev/null | grep -q "$want" && return 0
  if [ -x ../shared/tools/install ]; then ../shared/tools/install >/dev/null; fi
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$want"; then
    # --locked fails for 0.2.130: its lockfile pins a webpki-roots the registry no longer serves.
    cargo install wasm-bindgen-cli --version "$want"
  fi
}

# wasm-split-cli, which splits the release WASM into the main module and the lazily loaded
# pages' chunks (app/src/lazy.rs): the version cargo-leptos 0.3.10 embeds, which reads what
# the wasm_split macros in Cargo.lock write.
ensure_wasm_split() {
  local want=0.2.3
  # The tool prints no version of its own; cargo's list of what it installed has it.
  command -v wasm-split-cli >/dev/null &&
    cargo install --list | grep -q "^wasm_split_cli_support v$want:" && return 0
  cargo install wasm_split_cli_support --version "$want" --locked --features build-binary
}

# The development tools: cargo-leptos (`cargo leptos watch`, live reload) and, with `trunk`,
# trunk (the client-rendered build). No script of MuMu's builds with them; a developer who wants
# them runs this once (prebuilt from ../shared/tools when there, else about 12 minutes, 6 more
# for trunk).
ensure_front_tools() {
  if [ -x ../shared/tools/install ] && ! command -v cargo-leptos >/dev/null; then
    ../shared/tools/install >/dev/null
  fi
  command -v cargo-leptos >/dev/null || cargo install cargo-leptos --version 0.3.10 --locked
  if [ "${1:-}" = trunk ]; then
    command -v trunk >/dev/null || cargo install trunk --version 0.21.14 --locked
  fi
  ensure_wasm_bindgen
}

# The NAT lab (probe/tests/nat_lab.rs): coturn, iptables and iproute2. It builds network
# namespaces, so it runs only as root; there, it must run (MUMU_NAT_LAB=required).
ensure_nat_lab() {
  apt_install coturn iptables iproute2
  if [ "$(id -u)" = 0 ]; then export MUMU_NAT_LAB="${MUMU_NAT_LAB:-required}"; fi
}

# The browsers the web app's browser test and benchmark drive: Debian's headless Chromium and
# its WebDriver, and Debian's Firefox ESR with geckodriver (crates.io) and the H.264 plugin it
# decodes WebRTC video with.
ensure_browser() {
  # libavcodec59: Firefox on Debian plays H.264 in <video> and Media Source Extensions (the
  # recordings) only through the system's libavcodec.
  apt_install chromium chromium-driver firefox-esr libavcodec59
  command -v geckodriver >/dev/null || cargo install geckodriver --version 0.37.1 --locked
  if [ -z "${MUMU_FIREFOX_GMP:-}" ]; then
    MUMU_FIREFOX_GMP=$(scripts/firefox-openh264)
    export MUMU_FIREFOX_GMP
  fi
}

# Safari's engine for the browser test: Debian's WebKitGTK, its WebDriver, and an X server to
# show it on (MiniBrowser, the browser WebKitWebDriver drives, comes with libwebkit2gtk-4.1-0).
# Installed, it must run (MUMU_WEBKIT=required).
ensure_webkit() {
  apt_install webkit2gtk-driver libwebkit2gtk-4.1-0 xvfb
  export MUMU_WEBKIT="${MUMU_WEBKIT:-required}"
}

# MuMu's list of the Web APIs the app uses is checked against MDN's browser-compat-data (the npm
# package, a pinned version) for Safari and Firefox (app/src/browser_support.rs).
ensure_compat_data() {
  local version=8.1.9
  local dir="$CARGO_TARGET_DIR/browser-compat-data/$version"
  if [ ! -f "$dir/data.json" ]; then
    command -v npm >/dev/null || apt_install nodejs npm
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "@mdn/browser-compat-data@$version" >/dev/null &&
      tar -xzf mdn-browser-compat-data-*.tgz --strip-components=1 package/data.json &&
      rm mdn-browser-compat-data-*.tgz)
  fi
  export MUMU_BROWSER_COMPAT_DATA="$dir/data.json"
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

# Cross-building the agent for a Raspberry Pi (64-bit Raspberry Pi OS is Debian 12 arm64):
# Rust's standard library for the target, Debian's cross compiler, and the target's GStreamer
# development files from Debian's multiarch arm64 packages.
cross_arch() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo arm64 ;;
    *) echo "cross-building for $1 is not set up (only aarch64-unknown-linux-gnu)" >&2; return 1 ;;
  esac
}

cross_prefix() {
  case "$1" in
    aarch64-unknown-linux-gnu) echo aarch64-linux-gnu ;;
    *) cross_arch "$1" ;;
  esac
}

add_foreign_arch() {
  if ! dpkg --print-foreign-architectures | grep -qx "$1"; then
    as_root dpkg --add-architecture "$1"
    apt_updated=
  fi
}

ensure_cross_target() {
  local arch
  arch=$(cross_arch "$1")
  rustup target list --installed | grep -qx "$1" || rustup target add "$1"
  add_foreign_arch "$arch"
  apt_install "gcc-$(cross_prefix "$1")" "libc6-dev-$arch-cross" "libgstreamer1.0-dev:$arch" "liborc-0.4-dev:$arch" \
    "libgstreamer-plugins-base1.0-0:$arch" "libgstreamer-plugins-bad1.0-0:$arch"
  cross_dev_overlay "$1"
}

# Debian's arm64 development packages for GStreamer's base and bad libraries cannot be installed
# beside the amd64 ones (what they depend on, OpenCV among it, is not multiarch): their
# pkg-config files and link names are unpacked into a folder of the build's own instead, and
# point at the arm64 libraries installed above.
cross_dev_overlay() {
  local arch prefix dir stamp pkgs=() tmp
  arch=$(cross_arch "$1")
  prefix=$(cross_prefix "$1")
  dir="$CARGO_TARGET_DIR/cross/$arch-dev"
  for pkg in libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev; do
    # The version of the library installed, so the link names match its files.
    pkgs+=("$pkg:$arch=$(dpkg-query -W -f='${Version}' "${pkg%-dev}-0:$arch")")
  done
  stamp="$dir/.unpacked-relocatable ${pkgs[*]}"
  [ -f "$stamp" ] && return 0
  echo "unpacking ${pkgs[*]} into $dir"
  rm -rf "$dir" && mkdir -p "$dir"
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "${pkgs[@]}" 2>/dev/null)
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  rm -rf "$tmp"
  # Relative to the .pc file itself, so the overlay still works after the target dir moves.
  sed -i 's|^prefix=/usr$|prefix=${pcfiledir}/../../..|' "$dir/usr/lib/$prefix/pkgconfig/"*.pc
  local link
  for link in "$dir/usr/lib/$prefix/"*.so; do
    ln -sf "/usr/lib/$prefix/$(readlink "$link")" "$link"
  done
  touch "$stamp"
}

# The environment cargo needs to cross-build for $1: the cross linker and C compiler, and
# pkg-config reading the target's .pc files (multiarch paths, and the overlay above).
cross_env() {
  local prefix triple_var
  prefix=$(cross_prefix "$1")
  triple_var=${1//-/_}
  export "CARGO_TARGET_${triple_var^^}_LINKER=$prefix-gcc"
  export "CC_$triple_var=$prefix-gcc"
  export "PKG_CONFIG_ALLOW_CROSS_$triple_var=1"
  export "PKG_CONFIG_LIBDIR_$triple_var=$CARGO_TARGET_DIR/cross/$(cross_arch "$1")-dev/usr/lib/$prefix/pkgconfig:/usr/lib/$prefix/pkgconfig:/usr/share/pkgconfig"
}

# What the aarch64 agent needs to run here under qemu-user: the emulator and the arm64
# GStreamer plugins it loads (webrtcbin, libnice, x264, videotestsrc).
ensure_arm64_runtime() {
  add_foreign_arch arm64
  apt_install qemu-user-static gstreamer1.0-plugins-base:arm64 gstreamer1.0-plugins-good:arm64 \
    gstreamer1.0-plugins-bad:arm64 gstreamer1.0-plugins-ugly:arm64 gstreamer1.0-nice:arm64 \
    gstreamer1.0-x:arm64
}

# Checking docker/ without a Docker engine: Debian's docker-compose (a compose client) reads the
# compose file; the arm64 runtime runs the Pi build under qemu.
ensure_packaging_tools() {
  apt_install docker-compose
  ensure_arm64_runtime
}

# cargo-deb (crates.io) packs the agent into a .deb.
ensure_cargo_deb() {
  command -v cargo-deb >/dev/null || cargo install cargo-deb --version 3.8.0 --locked
}

# A stock aiortc viewer for the interoperability test (probe/tests/aiortc.rs): PyPI's aiortc and
# its dependencies, pinned in probe/tests/aiortc/requirements.txt, in a venv of its own.
ensure_aiortc() {
  local venv="$CARGO_TARGET_DIR/aiortc-venv"
  local wanted=probe/tests/aiortc/requirements.txt
  if ! cmp -s "$wanted" "$venv/requirements.txt"; then
    python3 -c 'import ensurepip' 2>/dev/null || apt_install python3 python3-venv
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$wanted"
    cp "$wanted" "$venv/requirements.txt"
  fi
  export MUMU_AIORTC_PYTHON="$venv/bin/python"
}

# Stages and their minutes: `stage NAME COMMAND...` runs COMMAND (a function of this file too)
# and adds a line to $MUMU_STAGE_LOG, so any growth shows where it is. The first script to run a
# stage starts the log and prints the table when it exits; a stage that fails is written down as
# failed as its script exits (set -e stays in force inside the stage's command).
stage() {
  if [ -z "${MUMU_STAGE_LOG:-}" ]; then
    MUMU_STAGE_LOG=$(mktemp)
    export MUMU_STAGE_LOG
    stage_owner=1
  fi
  trap stage_exit EXIT
  stage_name="$1"
  stage_start=$(date +%s)
  shift
  echo "== $stage_name"
  "$@"
  stage_done ok
}

# `background NAME COMMAND...` starts COMMAND at idle priority (it gets only the CPU that the
# stages in front leave), its output kept; `alongside NAME COMMAND...` starts it at the same
# priority as the stages (for work that waits on the network and the disk more than it
# computes). `await NAME` waits for either, shows its output if it failed, and fails too.
# Whatever is still running when the script exits is stopped.
background() {
  start_beside idle "$@"
}
alongside() {
  start_beside normal "$@"
}
start_beside() {
  local priority="$1" name="$2"
  shift 2
  background_log[$name]=$(mktemp)
  (
    if [ "$priority" = idle ]; then
      chrt --idle -p 0 "$BASHPID" > /dev/null
      renice -n 19 -p "$BASHPID" > /dev/null
    fi
    "$@"
  ) > "${background_log[$name]}" 2>&1 &
  background_pid[$name]=$!
}
declare -A background_log background_pid

await() {
  local name="$1" status=0
  wait "${background_pid[$name]}" || status=$?
  unset "background_pid[$name]"
  if [ "$status" -ne 0 ]; then
    cat "${background_log[$name]}"
    echo "$name failed ($status)" >&2
  else
    tail -1 "${background_log[$name]}"
  fi
  rm -f "${background_log[$name]}"
  return "$status"
}

stage_done() {
  printf '%s\t%s\t%s\n' "$stage_name" "$(($(date +%s) - stage_start))" "$1" >> "$MUMU_STAGE_LOG"
  stage_name=
}

# Stops a process and everything it started (a background job's cargo and rustc outlive its
# subshell otherwise, holding cargo's lock and any lock the script was run under).
kill_tree() {
  local child
  for child in $(pgrep -P "$1"); do kill_tree "$child"; done
  kill "$1" 2>/dev/null || true
}

stage_exit() {
  local status=$? pid
  for pid in "${background_pid[@]}"; do kill_tree "$pid"; done
  if [ -n "${stage_name:-}" ]; then stage_done "failed ($status)"; fi
  if [ -n "${stage_owner:-}" ]; then
    echo
    echo "stage                                        min:s   result"
    awk -F'\t' '{ total += $2; printf "%-44s %3d:%02d   %s\n", $1, $2 / 60, $2 % 60, $3 }
      END { printf "%-44s %3d:%02d\n", "total", total / 60, total % 60 }' "$MUMU_STAGE_LOG"
    rm -f "$MUMU_STAGE_LOG"
  fi
  return $status
}
