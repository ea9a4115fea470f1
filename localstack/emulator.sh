#!/usr/bin/env bash
# Local AWS emulator for Fig (DESIGN.md section 8).
#
#   localstack/emulator.sh start           use the emulator at $AWS_ENDPOINT_URL if one answers,
#                                          otherwise start moto in server mode on 127.0.0.1:4566
#   localstack/emulator.sh stop            stop the emulator, but only if this script started it
#   localstack/emulator.sh run-with CMD..  start, run CMD, stop again (if started here); exits
#                                          with CMD's status
#   localstack/emulator.sh status          say which emulator answers, if any
#
# moto is installed on first use into <repo>/.emu-venv (pinned version below). Its log is
# <repo>/target/emulator.log and its pid <repo>/target/emulator.pid. With Docker, LocalStack
# (localstack/docker-compose.yml) can be started instead; `start` then just uses it.
set -euo pipefail

MOTO_VERSION="5.2.5"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.emu-venv"
TARGET_DIR="$REPO/target"
LOG_FILE="$TARGET_DIR/emulator.log"
PID_FILE="$TARGET_DIR/emulator.pid"
LOCK_FILE="$TARGET_DIR/emulator.lock"
ENDPOINT="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
ENDPOINT="${ENDPOINT%/}"
READY_TRIES=120        # x READY_INTERVAL: ~60 s, and never past READY_SECONDS
READY_INTERVAL=0.5
READY_SECONDS=60

log() { printf 'emulator: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints "moto" or "localstack" and returns 0 if an emulator answers at $ENDPOINT.
probe() {
  # data.json dumps moto's whole state: a busy moto holding many tables can take seconds to
  # answer it, and must not be mistaken for a dead one (and stopped).
  if curl -fsS -o /dev/null --connect-timeout 2 -m 30 "$ENDPOINT/moto-api/data.json" 2>/dev/null; then
    echo moto
  elif curl -fsS -o /dev/null --connect-timeout 1 -m 2 "$ENDPOINT/_localstack/health" 2>/dev/null; then
    echo localstack
  else
    return 1
  fi
}

# The pid in the pid file, if that process is alive and is our moto_server.
our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q moto_server || return 1
  fi
  echo "$pid"
}

# Host and port moto should bind, taken from $ENDPOINT (default 127.0.0.1:4566).
endpoint_port() {
  local hostport="${ENDPOINT#*://}"
  hostport="${hostport%%/*}"
  local host="${hostport%%:*}" port=4566
  [[ "$hostport" == *:* ]] && port="${hostport##*:}"
  case "$host" in
    127.0.0.1 | localhost) ;;
    *) die "nothing answers at $ENDPOINT, and moto is only started on loopback (127.0.0.1)" ;;
  esac
  [[ "$port" =~ ^[0-9]+$ ]] || die "cannot read a port from AWS_ENDPOINT_URL=$ENDPOINT"
  echo "$port"
}

ensure_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtualenv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  fi
  local have=""
  have="$("$VENV/bin/python" - <<'EOF' 2>/dev/null || true
import importlib.metadata as m
import flask, flask_cors  # moto[server] extras
print(m.version("moto"))
EOF
)"
  if [[ "$have" != "$MOTO_VERSION" || ! -x "$VENV/bin/moto_server" ]]; then
    log "installing moto[server]==$MOTO_VERSION into $VENV (about 35 s, once)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "moto[server]==$MOTO_VERSION" \
      || die "pip install moto[server]==$MOTO_VERSION failed"
  fi
}

do_start() {
  mkdir -p "$TARGET_DIR"
  # Serialise concurrent starts; the lock is released before returning so that a command run by
  # run-with can call this script again.
  exec 9>"$LOCK_FILE"
  if command -v flock >/dev/null 2>&1; then
    flock -w 180 9 || die "timed out waiting for another emulator start ($LOCK_FILE)"
  fi

  local kind
  if kind="$(probe)"; then
    if our_pid >/dev/null; then
      log "$kind already running at $ENDPOINT (started by this script, pid $(our_pid))"
    else
      log "using the $kind emulator already answering at $ENDPOINT"
    fi
    exec 9>&-
    return 0
  fi
  # A stale pid file (process gone or not answering) is not ours to trust any more.
  if [[ -f "$PID_FILE" ]]; then
    local stale
    if stale="$(our_pid)"; then
      log "moto (pid $stale) is running but not answering; stopping it"
      kill_pid "$stale"
    fi
    rm -f "$PID_FILE"
  fi

  local port
  port="$(endpoint_port)"
  ensure_venv

  printf '\n==== %s moto_server %s on 127.0.0.1:%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$MOTO_VERSION" "$port" >>"$LOG_FILE"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  local pid=$!
  echo "$pid" >"$PID_FILE"

  local i deadline=$((SECONDS + READY_SECONDS))
  for ((i = 1; i <= READY_TRIES && SECONDS < deadline; i++)); do
    if curl -fsS -o /dev/null --connect-timeout 1 -m 2 "$ENDPOINT/moto-api/data.json" 2>/dev/null; then
      log "moto $MOTO_VERSION ready at $ENDPOINT (pid $pid, log $LOG_FILE)"
      exec 9>&-
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log "moto_server exited before answering; output ($LOG_FILE):"
      log_tail
      exit 1
    fi
    sleep "$READY_INTERVAL"
  done
  log "moto_server did not answer at $ENDPOINT/moto-api/data.json within ~60 s; output ($LOG_FILE):"
  log_tail
  kill_pid "$pid"
  rm -f "$PID_FILE"
  exit 1
}

# The current start's part of the log (from its last "====" marker), at most 40 lines.
log_tail() {
  awk '/^==== /{n=0} {buf[++n]=$0} END{s=(n>40)?n-39:1; for(i=s;i<=n;i++) print buf[i]}' \
    "$LOG_FILE" >&2 || true
}

kill_pid() {
  local pid="$1" i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

do_stop() {
  local pid quiet="${1:-}"
  if pid="$(our_pid)"; then
    kill_pid "$pid"
    # Quiet after run-with, so the command's own last line (a test summary) ends the output.
    [[ "$quiet" == quiet ]] || log "stopped moto (pid $pid)"
  elif [[ -f "$PID_FILE" ]]; then
    log "no emulator of ours is running (stale pid file removed)"
  else
    log "no emulator was started by this script; nothing to stop"
  fi
  rm -f "$PID_FILE"
}

do_run_with() {
  (($# > 0)) || die "usage: $0 run-with CMD [ARGS...]"
  # Stop on exit only what this invocation starts: an emulator that was already running (ours
  # from an earlier `start`, LocalStack, or whatever $AWS_ENDPOINT_URL names) is left alone.
  # The traps are set before starting, so an interrupt during start-up cleans up too.
  if ! our_pid >/dev/null; then
    trap 'if our_pid >/dev/null; then do_stop quiet; fi' EXIT
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
  fi
  do_start
  export AWS_ENDPOINT_URL="$ENDPOINT"
  local status=0
  # In the foreground, so CMD keeps the terminal (Ctrl-C reaches it); a signal sent to this
  # script alone is acted on when CMD returns.
  "$@" || status=$?
  exit "$status"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  run-with) do_run_with "$@" ;;
  status)
    if kind="$(probe)"; then
      echo "$kind at $ENDPOINT"
    else
      echo "no emulator at $ENDPOINT"
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 {start|stop|run-with CMD [ARGS...]|status}" >&2
    exit 2
    ;;
esac
