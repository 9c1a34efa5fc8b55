#!/usr/bin/env bash
# Peer benchmark, one command: installs the pinned npm packages (npm ci),
# starts the Automerge sync server (server.mjs) on a free 127.0.0.1 port with a
# temporary data directory, runs field-day.mjs against it with the arguments
# given here, stops the server and prints the driver's JSON on stdout.
#
#   bash bench/peer/run.sh [field-day.mjs flags]
#   bash bench/peer/run.sh --devices 50 --accounts 20
#   bash bench/peer/run.sh --scenario conflict
#   bash bench/peer/run.sh --scenario initial --docs 2000
#
# For --scenario initial the server is restarted on the same data directory
# between the populate and the fetch phase (a cold server that holds the
# documents only on disk); pass --phase all to keep one warm server instead.
# Env: PEER_SKIP_INSTALL=1 skips npm ci; PEER_KEEP=1 keeps the temp dir (data,
# logs); PEER_HARD_TIMEOUT_S caps each driver run (default: --timeout-s + 120);
# PEER_TMPDIR puts the temp dir (and so the server's data directory) elsewhere,
# e.g. PEER_TMPDIR=/dev/shm to take the disk out of the measurement;
# PEER_SERVER_NODE_ARGS adds node flags to the server (e.g. "--cpu-prof
# --cpu-prof-dir=/tmp/prof" or "--trace-gc") for diagnosis.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
log() { echo "[run.sh] $*" >&2; }
T0=$(date +%s.%N)

# ---- install (offline-friendly: npm's cache first; skipped when node_modules
# was installed from this very lock file)
stamp=node_modules/.kam-peer-installed-lock
if [[ "${PEER_SKIP_INSTALL:-0}" != 1 ]] && ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  log "npm ci"
  npm ci --no-audit --no-fund --prefer-offline >&2
  cp package-lock.json "$stamp"
fi

# ---- arguments this script needs to know about
scenario="${FD_SCENARIO:-field-day}"
phase_given=0
timeout_s="${FD_TIMEOUT_S:-600}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --scenario) scenario="${args[i + 1]:-}" ;;
    --scenario=*) scenario="${args[i]#--scenario=}" ;;
    --phase | --phase=*) phase_given=1 ;;
    --timeout-s) timeout_s="${args[i + 1]:-600}" ;;
    --timeout-s=*) timeout_s="${args[i]#--timeout-s=}" ;;
    -h | --help) exec node field-day.mjs --help ;;
  esac
done
[[ "$timeout_s" =~ ^[0-9]+$ ]] || { log "bad --timeout-s $timeout_s"; exit 64; }
hard_timeout="${PEER_HARD_TIMEOUT_S:-$((timeout_s + 120))}"

WORK="$(mktemp -d -p "${PEER_TMPDIR:-${TMPDIR:-/tmp}}" kam-peer.XXXXXX)"
DATA_DIR="$WORK/data"
mkdir -p "$DATA_DIR"
SERVER_PID=""
PORT=""

start_server() {
  : >"$WORK/server.out"
  # shellcheck disable=SC2086 # word splitting of extra node flags is intended
  node ${PEER_SERVER_NODE_ARGS:-} server.mjs --data-dir "$DATA_DIR" --port 0 --save-log "$WORK/saves.log" >"$WORK/server.out" &
  SERVER_PID=$!
  local i
  for ((i = 0; i < 300; i++)); do # at most 30 s
    if grep -q '^kam-peer-server ready' "$WORK/server.out"; then break; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server exited before it was ready"
      SERVER_PID=""
      exit 1
    fi
    sleep 0.1
  done
  PORT="$(sed -n 's/^kam-peer-server ready port=\([0-9]*\).*/\1/p' "$WORK/server.out" | tail -n 1)"
  if [[ -z "$PORT" ]]; then
    log "server not ready after 30 s"
    exit 1
  fi
  log "server pid=$SERVER_PID listening on ws://127.0.0.1:$PORT, data in $DATA_DIR"
}

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local i
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do # at most 15 s, then SIGKILL
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  wait "$SERVER_PID" 2>/dev/null || true
  log "server pid=$SERVER_PID stopped"
  SERVER_PID=""
}

DRIVER_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n "$DRIVER_PID" ]] && kill -0 "$DRIVER_PID" 2>/dev/null; then
    kill -TERM "$DRIVER_PID" 2>/dev/null || true # timeout(1) passes it on to node
    wait "$DRIVER_PID" 2>/dev/null || true
  fi
  stop_server
  if [[ "${PEER_KEEP:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_driver OUTFILE [args]: runs field-day.mjs in the background and waits
# for it, so that a signal to this script is handled at once (bash runs traps
# only between foreground commands).
run_driver() {
  local out="$1"
  shift
  timeout -k 10 "$hard_timeout" node field-day.mjs \
    --server-url "ws://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --data-dir "$DATA_DIR" \
    --save-log "$WORK/saves.log" "$@" >"$out" &
  DRIVER_PID=$!
  local code=0
  wait "$DRIVER_PID" || code=$?
  DRIVER_PID=""
  return "$code"
}

rc=0
start_server
if [[ "$scenario" == initial && "$phase_given" == 0 ]]; then
  run_driver "$WORK/populate.json" "$@" --phase populate --state-file "$WORK/state.json" || rc=$?
  if [[ $rc -ne 0 ]]; then
    log "populate phase failed (exit $rc)"
    exit "$rc"
  fi
  log "restarting the server on the same data directory (cold server for the fetch)"
  stop_server
  start_server
  run_driver "$WORK/result.json" "$@" --phase fetch --state-file "$WORK/state.json" || rc=$?
else
  run_driver "$WORK/result.json" "$@" || rc=$?
fi
stop_server
cat "$WORK/result.json"
log "wall time $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s, driver exit $rc"
exit "$rc"
