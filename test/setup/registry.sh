#!/usr/bin/env bash
# Runs a local plain-HTTP image registry (Debian's docker-registry, distribution v2) for the pull
# tests and pushes their images into it:
#   127.0.0.1:$PORT/gpunode-test/busybox:latest  the small test image (from docker-engine.sh)
#   127.0.0.1:$PORT/gpunode-test/big:latest      busybox plus one ~200 MB layer of random bytes,
#                                                 big enough that a pull is still running when a
#                                                 test SIGSTOPs the registry
# Our own instance, never the system service (the machine may have no systemd): its PID goes to
# $REGISTRY_PID_FILE so tests can SIGSTOP/SIGCONT it. dockerd trusts plain HTTP on 127.0.0.0/8.
# Idempotent and quiet when the registry answers and holds both tags.
#
# Needs: bash test/setup/docker-engine.sh first (the engine and gpunode-test/busybox:latest).
# Env: REGISTRY_PORT (default 5000); REGISTRY_WAIT_S (default 30) bounds the wait for it to answer;
#      REGISTRY_DIR (default /tmp/gpunode-registry) holds its storage;
#      REGISTRY_PID_FILE (default /tmp/gpunode-registry.pid); REGISTRY_LOG (default /tmp/gpunode-registry.log).
set -euo pipefail

started_ms=$(date +%s%3N)
PORT=${REGISTRY_PORT:-5000}
WAIT_S=${REGISTRY_WAIT_S:-30}
DATA_DIR=${REGISTRY_DIR:-/tmp/gpunode-registry}
PID_FILE=${REGISTRY_PID_FILE:-/tmp/gpunode-registry.pid}
LOG_FILE=${REGISTRY_LOG:-/tmp/gpunode-registry.log}
CONFIG=/tmp/gpunode-registry-$PORT.yml
REGISTRY=127.0.0.1:$PORT
BASE_IMAGE=gpunode-test/busybox:latest
BIG_MB=200

log() { echo "registry.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
docker() { if [ ${#SUDO[@]} -gt 0 ]; then "${SUDO[@]}" docker "$@"; else command docker "$@"; fi; }

answers() { curl -fsS -m 2 -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; }
# A zombie (killed, never reaped by a parent that is gone) is not alive.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && [[ $(ps -o stat= -p "$1" 2>/dev/null) != Z* ]]; }
is_registry() { alive "$1" && [ "$(ps -o comm= -p "$1")" = docker-registry ]; }

# --- package: only when missing. Where init scripts run (no policy-rc.d), installing starts the
# system service on :5000; the next step then uses that one and records its PID.
if ! command -v docker-registry >/dev/null 2>&1; then
  command -v curl >/dev/null 2>&1 || need_curl=curl
  log "installing docker-registry ${need_curl:-}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends docker-registry ${need_curl:-} >/dev/null
fi
command -v curl >/dev/null 2>&1 || die "curl is missing (apt-get install curl)"
docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers: run bash test/setup/docker-engine.sh first"

# --- the registry process: ours if the PID file names a live one, else whatever listens on the port.
pid=$(cat "$PID_FILE" 2>/dev/null || true)
if answers; then
  if ! is_registry "$pid"; then
    # Someone else's instance (the system service after an install): tests need its PID to stop it.
    pid=$(ss -Hltnp "sport = :$PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)
    is_registry "$pid" || die "something answers on $REGISTRY but its PID is unknown; stop it or set REGISTRY_PORT"
    log "using the registry already running on $REGISTRY (pid $pid)"
    echo "$pid" >"$PID_FILE"
  fi
else
  if is_registry "$pid"; then
    # Ours but silent: stopped by a test that died before its SIGCONT, or hung. Start afresh.
    log "registry pid $pid does not answer; restarting it"
    kill -CONT "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  mkdir -p "$DATA_DIR"
  cat >"$CONFIG" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DATA_DIR
  delete:
    enabled: true
http:
  addr: $REGISTRY
EOF
  log "starting docker-registry on $REGISTRY (storage $DATA_DIR, log $LOG_FILE)"
  setsid docker-registry serve "$CONFIG" >"$LOG_FILE" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PID_FILE"
  deadline=$((SECONDS + WAIT_S))
  until answers; do
    if ! alive "$pid"; then
      tail -n 20 "$LOG_FILE" >&2 || true
      die "docker-registry exited at start"
    fi
    [ $SECONDS -lt $deadline ] || die "docker-registry did not answer on $REGISTRY within ${WAIT_S}s (log: $LOG_FILE)"
    sleep 0.2
  done
fi

has_tag() { curl -fsS -m 5 "http://$REGISTRY/v2/$1/tags/list" 2>/dev/null | grep -q "\"$2\""; }

# The registry's busybox is a re-export of the local one: the same files in a layer of its own,
# so removing the pulled copy really removes its layer and the next pull downloads it (a pushed
# gpunode-test/busybox would share its layer with the local image and pull as "Already exists").
SMALL=$REGISTRY/gpunode-test/busybox:latest
BIG=$REGISTRY/gpunode-test/big:latest
cid=
trap '[ -z "$cid" ] || docker rm -f "$cid" >/dev/null 2>&1 || true' EXIT

push() { # pushes the local tag, then drops it: the tests pull their own copy
  docker push -q "$1" >/dev/null
  docker rmi "$1" >/dev/null
}

if ! has_tag gpunode-test/busybox latest; then
  docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "$BASE_IMAGE is missing: run bash test/setup/docker-engine.sh first"
  log "pushing $SMALL"
  cid=$(docker create "$BASE_IMAGE")
  docker export "$cid" | docker import --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/sh"]' - "$SMALL" >/dev/null
  docker rm "$cid" >/dev/null && cid=
  push "$SMALL"
fi

if ! has_tag gpunode-test/big latest; then
  log "building and pushing $BIG (busybox + ${BIG_MB} MB of random data)"
  docker image inspect "$SMALL" >/dev/null 2>&1 || docker pull -q "$SMALL" >/dev/null
  # Random bytes: gzip cannot shrink the layer, so a pull really moves ~$BIG_MB MB.
  cid=$(docker create "$SMALL" sh -c "head -c $((BIG_MB * 1024 * 1024)) /dev/urandom >/big.bin")
  docker start -a "$cid" >/dev/null
  docker commit --change 'CMD ["/bin/sh"]' "$cid" "$BIG" >/dev/null
  docker rm "$cid" >/dev/null && cid=
  push "$BIG"
  docker rmi "$SMALL" >/dev/null
fi

elapsed_ms=$(($(date +%s%3N) - started_ms))
log "$REGISTRY ready (pid $pid) in $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000)))s"
