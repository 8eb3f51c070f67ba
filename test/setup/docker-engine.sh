#!/usr/bin/env bash
# Makes a Docker engine answer on /var/run/docker.sock and builds the test image
# gpunode-test/busybox:latest, on a Debian machine with no registry access.
# Idempotent: with the engine up and the image current, it only checks and exits.
#
# Env: DOCKER_WAIT_S (default 60) bounds the wait for the engine;
#      DOCKERD_LOG (default /tmp/gpunode-dockerd.log) receives dockerd's output.
set -euo pipefail

IMAGE=gpunode-test/busybox:latest
# Bump when the rootfs recipe below changes, so existing machines rebuild the image.
RECIPE_VERSION=1
RECIPE_LABEL=io.gpunode.test.recipe
SOCK=/var/run/docker.sock
WAIT_S=${DOCKER_WAIT_S:-60}
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/gpunode-dockerd.log}
HOOK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures/docker/bin" && pwd)

log() { echo "docker-engine.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

# --- packages: only what is missing; an engine from another source (docker-ce) is left alone.
pkgs=()
if ! command -v dockerd >/dev/null 2>&1 && [ ! -x /usr/sbin/dockerd ]; then pkgs+=(docker.io); fi
# The image needs a static busybox: Debian's dynamic "busybox" package would not run in it.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
  pkgs+=(busybox-static)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi
export PATH=$PATH:/usr/sbin:/sbin
docker() { if [ ${#SUDO[@]} -gt 0 ]; then "${SUDO[@]}" docker "$@"; else command docker "$@"; fi; }

engine_answers() { timeout 5 "${SUDO[@]}" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# --- engine: start dockerd only when nothing answers and no dockerd is already starting.
if ! engine_answers; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
  else
    dockerd_path=$PATH
    if command -v nvidia-container-runtime-hook >/dev/null 2>&1; then
      log "using the machine's nvidia-container-runtime-hook"
    else
      # The stand-in makes dockerd accept GPU requests; see test/fixtures/docker/README.md.
      [ -x "$HOOK_DIR/nvidia-container-runtime-hook" ] ||
        die "$HOOK_DIR/nvidia-container-runtime-hook must be executable (commit it with mode 755)"
      dockerd_path=$HOOK_DIR:$PATH
      log "no nvidia-container-runtime-hook on this machine; dockerd gets the stand-in from $HOOK_DIR"
    fi
    log "starting dockerd (log: $DOCKERD_LOG)"
    # No iptables on these machines; setsid detaches it from this script's session.
    "${SUDO[@]}" env PATH="$dockerd_path" setsid dockerd --iptables=false --ip-masq=false \
      >"$DOCKERD_LOG" 2>&1 </dev/null &
  fi
  deadline=$((SECONDS + WAIT_S))
  until engine_answers; do
    if [ $SECONDS -ge $deadline ]; then
      log "last lines of $DOCKERD_LOG:"
      tail -n 20 "$DOCKERD_LOG" >&2 2>/dev/null || true
      die "no Docker engine answered on $SOCK within ${WAIT_S}s"
    fi
    sleep 0.5
  done
fi
log "engine $(docker version --format '{{.Server.Version}}') answers on $SOCK"

build_image() {
  log "building $IMAGE ($want)"
  rootfs=$(mktemp -d /tmp/gpunode-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,home/renter,tmp,dev/shm,proc,sys}
  cp /bin/busybox "$rootfs/bin/busybox"
  # Every applet as a link to the one binary, at the path busybox itself names.
  for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$rootfs/$(dirname "$applet")"
    ln -sf /bin/busybox "$rootfs/$applet"
  done
  chmod 1777 "$rootfs/tmp"
  chmod 700 "$rootfs/root"
  # root plus one unprivileged user: exec as a user and sftp-server need passwd entries.
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'renter:x:1000:1000:renter:/home/renter:/bin/sh' \
    'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$rootfs/etc/passwd"
  printf '%s\n' 'root:x:0:' 'renter:x:1000:' 'nogroup:x:65534:' >"$rootfs/etc/group"
  chown -R 1000:1000 "$rootfs/home/renter"
  tar -C "$rootfs" --numeric-owner -cf - . | docker import \
    --change "LABEL $RECIPE_LABEL=$want" \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$IMAGE" >/dev/null
  log "built $IMAGE"
}

# --- test image: rebuilt only when missing or made from another busybox or recipe.
want="v$RECIPE_VERSION-$(sha256sum /bin/busybox | cut -c1-16)"
have=$(docker image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$IMAGE" 2>/dev/null || true)
if [ "$have" = "$want" ]; then
  log "$IMAGE is current ($want)"
else
  build_image
fi

# --- a stand-in miner for the mining tests: the same rootfs, running until SIGTERM.
MINER_IMAGE=gpunode-test/miner:latest
have_miner=$(docker image inspect --format "{{index .Config.Labels \"$RECIPE_LABEL\"}}" "$MINER_IMAGE" 2>/dev/null || true)
if [ "$have_miner" != "$want" ]; then
  log "building $MINER_IMAGE"
  cid=$(docker create "$IMAGE")
  docker commit \
    --change "LABEL $RECIPE_LABEL=$want" \
    --change 'ENTRYPOINT ["/bin/sh", "-c", "trap '"'"'exit 0'"'"' TERM INT; echo mining on GPU $NVIDIA_VISIBLE_DEVICES; while :; do sleep 1; done", "miner"]' \
    --change 'CMD []' \
    "$cid" "$MINER_IMAGE" >/dev/null
  docker rm "$cid" >/dev/null
fi

# A dockerd started elsewhere without the hook on its PATH refuses GPU requests; say so here,
# not as a puzzling test failure.
if ! gpu_env=$(docker run --rm --gpus '"device=0"' "$IMAGE" env 2>&1) || [[ $gpu_env != *NVIDIA_VISIBLE_DEVICES=0* ]]; then
  die "the engine refuses GPU requests (${gpu_env%%$'\n'*}); dockerd must find" \
    "nvidia-container-runtime-hook on its PATH when it starts: stop it and rerun this script"
fi
log "GPU requests accepted"

