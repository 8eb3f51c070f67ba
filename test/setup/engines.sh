#!/usr/bin/env bash
# What `npm test` needs besides Node, brought up before vitest runs: Debian packages (the real
# OpenSSH client and sftp-server, Chromium, systemd-analyze, ...), a Docker engine with the test
# image, a local image registry and PostgreSQL. Whatever already runs is reused; with everything in
# place this takes well under a second and prints one line per engine.
#
# As root (or with password-less sudo) on Debian it installs what is missing from Debian's packages.
# Otherwise it names what is missing and the one command that installs it, and fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

log() { echo "engines.sh: $*" >&2; }

#   openssh-client, openssh-sftp-server - the real ssh/scp/sftp the SSH tests drive; sftp-server goes into rentals
#   chromium                            - the dashboard's browser test (driven by playwright-core, never downloaded)
#   systemd                             - systemd-analyze verifies the units in systemd/
#   python3-yaml                        - the deploy test parses deploy/compose.yaml
#   gcc, make                           - the tests compile the NVML stand-in (test/fixtures/nvml)
#   haproxy                             - a real load balancer in front of hub replicas (test/e2e/hub-replicas.test.ts)
PACKAGES=(gcc make python3 openssh-client openssh-sftp-server ca-certificates chromium systemd python3-yaml iproute2 iptables haproxy)

missing=()
if command -v dpkg >/dev/null 2>&1; then
  for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
else
  log "this is not a Debian-based machine (no dpkg): the tests need ${PACKAGES[*]}, a Docker engine, PostgreSQL and a registry; see test/setup/*.sh"
  exit 1
fi

can_install() { [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }

if [ ${#missing[@]} -gt 0 ]; then
  if ! can_install; then
    log "missing Debian packages: ${missing[*]}"
    log "install them once with:  sudo apt-get install -y --no-install-recommends ${missing[*]}"
    log "(the engines need root too: run 'sudo npm test' once, or 'sudo bash test/setup/engines.sh')"
    exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! can_install && ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers and this user cannot start one: run 'sudo bash test/setup/engines.sh' once"
  exit 1
fi

bash ./docker-engine.sh
bash ./registry.sh
bash ./postgres.sh
