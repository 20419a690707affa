#!/usr/bin/env bash
# End-to-end smoke run: the real server, the agent on the test picture, pairing through the
# REST API, and mumu-probe watching. Prints each probe's JSON summary.
#
#   agent/scripts/e2e-smoke.sh [--viewers N] [--duration S] [--stagger S] [--relay] [--size WxH] [--keep]
#
# --stagger S makes viewer i watch (i-1)*S seconds longer, so they leave one by one.
#
# --relay starts coturn (Debian's `turnserver`) on this machine's first non-loopback IPv4
# address (libnice cannot reach a TURN server on 127.0.0.1) and makes the server hand out a
# relay-only policy. Binaries come from the target directories the notes name; build them first.
set -euo pipefail

VIEWERS=1 DURATION=5 STAGGER=0 RELAY=0 SIZE=640x480 KEEP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --viewers) VIEWERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --stagger) STAGGER=$2; shift 2 ;;
    --relay) RELAY=1; shift ;;
    --size) SIZE=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done

TARGET=${CARGO_TARGET_DIR:-$HOME/.cache/mumu-target}/debug
SERVER_BIN=${SERVER_BIN:-$TARGET/mumu-server}
AGENT_BIN=${AGENT_BIN:-$TARGET/mumu-agent}
PROBE_BIN=${PROBE_BIN:-$TARGET/mumu-probe}
WORK=$(mktemp -d /tmp/mumu-smoke.XXXXXX)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$KEEP" = 1 ]; then echo "logs kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

SERVER_ENV=(MUMU_ENROLL_PER_MIN=0)
if [ "$RELAY" = 1 ]; then
  IP=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  TURN_PORT=$(free_port)
  SECRET=mumu-smoke-turn-secret-$RANDOM$RANDOM
  turnserver -n --listening-ip="$IP" --listening-port="$TURN_PORT" --relay-ip="$IP" \
    --use-auth-secret --static-auth-secret="$SECRET" --realm=mumu --no-tls --no-dtls --no-cli \
    --log-file=stdout > "$WORK/coturn.log" 2>&1 &
  PIDS+=($!)
  SERVER_ENV+=(TURN_SECRET="$SECRET" "TURN_URLS=turn:$IP:$TURN_PORT?transport=udp"
    MUMU_ICE_TRANSPORT_POLICY=relay)
fi

env "${SERVER_ENV[@]}" "$SERVER_BIN" --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
  > "$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "$BASE/healthz" > /dev/null && break; sleep 0.1; done

RUST_LOG=${AGENT_LOG:-info} "$AGENT_BIN" --simulate --server "$BASE" --state-dir "$WORK/agent" \
  --width "${SIZE%x*}" --height "${SIZE#*x}" > "$WORK/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/agent/identity.json" ] && break; sleep 0.1; done
CODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pairing_code"])' "$WORK/agent/identity.json")

TOKEN=$(curl -sf -X POST "$BASE/api/auth/register" -H 'content-type: application/json' \
  -d '{"username":"smoke","email":"smoke@example.com","password":"correct horse battery"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
curl -sf -X POST "$BASE/api/devices/pair" -H "authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' -d "{\"pairing_code\":\"$CODE\",\"name\":\"Smoke\"}" > /dev/null

STATUS=0
PROBES=()
for i in $(seq "$VIEWERS"); do
  SECONDS_I=$(python3 -c "print($DURATION + ($i - 1) * $STAGGER)")
  "$PROBE_BIN" --server "$BASE" -u smoke -p 'correct horse battery' --duration "$SECONDS_I" \
    --json > "$WORK/probe$i.json" 2> "$WORK/probe$i.log" &
  PROBES+=($!)
done
for pid in "${PROBES[@]}"; do wait "$pid" || STATUS=1; done
cat "$WORK"/probe*.json
grep -E "viewer branch (attached|removed)" "$WORK/agent.log" | sed 's/\x1b\[[0-9;]*m//g' | tail -n $((VIEWERS * 2)) >&2
exit $STATUS
