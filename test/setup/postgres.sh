#!/usr/bin/env bash
# Makes a PostgreSQL server answer on 127.0.0.1 with the role and database the tests use, on a
# Debian machine (systemd or not). Idempotent: when all is in place it prints only "ready".
#
# The tests read HUB_TEST_DATABASE_URL, default
#   postgres://gpunode:gpunode@127.0.0.1:5432/gpunode_test
# which is what this script provides. Each test makes and drops its own schema in that database.
#
# Env: PG_WAIT_S (default 60) bounds the wait for the server; PG_PORT (default 5432) picks the
#      cluster (one is created on that port when none exists).
set -euo pipefail

TEST_ROLE=gpunode
TEST_PASSWORD=gpunode
TEST_DB=gpunode_test
PORT=${PG_PORT:-5432}
WAIT_S=${PG_WAIT_S:-60}

log() { echo "postgres.sh: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi
export PATH=$PATH:/usr/sbin:/sbin

# Runs a command as the postgres OS user, from a directory it may read (psql warns otherwise).
as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u postgres -- "$@"); else (cd / && sudo -n -u postgres "$@"); fi
}
# One value from a query run as the superuser over the local socket (peer authentication).
psql_value() { as_postgres psql -p "$PORT" -d postgres -X -q -v ON_ERROR_STOP=1 -tAc "$1"; }

# --- packages: Debian's server with its cluster tools (pg_lsclusters, pg_ctlcluster).
if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  # The package's own start attempt may fail without systemd or under a policy-rc.d; started below.
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

# --- cluster: the one on $PORT, created when none exists (the package creates "main" on most machines).
cluster_line() { pg_lsclusters -h 2>/dev/null | awk -v port="$PORT" '$3 == port { print; exit }'; }
line=$(cluster_line)
if [ -z "$line" ]; then
  version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
  [ -n "$version" ] || die "no PostgreSQL server version under /usr/lib/postgresql"
  name=main
  if pg_lsclusters -h 2>/dev/null | awk -v v="$version" '$1 == v && $2 == "main" { found = 1 } END { exit !found }'; then
    name=gpunode_test
  fi
  log "creating cluster $version/$name on port $PORT"
  "${SUDO[@]}" pg_createcluster --port "$PORT" "$version" "$name" >/dev/null
  line=$(cluster_line)
  [ -n "$line" ] || die "pg_createcluster did not create a cluster on port $PORT"
fi
read -r version name _port status _owner _datadir logfile _ <<<"$line"

# --- server: start it unless it runs. pg_ctlcluster goes through systemd where systemd runs, pg_ctl otherwise.
if [[ "$status" != online* ]]; then
  log "starting cluster $version/$name (log: $logfile)"
  "${SUDO[@]}" pg_ctlcluster "$version" "$name" start ||
    die "pg_ctlcluster $version $name start failed; see $logfile"
fi

deadline=$((SECONDS + WAIT_S))
until pg_isready -q -h 127.0.0.1 -p "$PORT"; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    die "PostgreSQL on 127.0.0.1:$PORT does not accept connections after ${WAIT_S}s; see $logfile"
  fi
  sleep 0.2
done

# --- role and database: created when missing. The password is set only when it does not work,
# so a second run changes nothing.
url="postgres://$TEST_ROLE:$TEST_PASSWORD@127.0.0.1:$PORT/$TEST_DB"
can_login() { PGCONNECT_TIMEOUT=5 psql "$url" -X -q -tAc 'select 1' >/dev/null 2>&1; }
if ! can_login; then
  if [ "$(psql_value "select count(*) from pg_roles where rolname = '$TEST_ROLE'")" = 0 ]; then
    log "creating role $TEST_ROLE"
    psql_value "create role $TEST_ROLE login password '$TEST_PASSWORD'" >/dev/null
  else
    psql_value "alter role $TEST_ROLE login password '$TEST_PASSWORD'" >/dev/null
  fi
  if [ "$(psql_value "select count(*) from pg_database where datname = '$TEST_DB'")" = 0 ]; then
    log "creating database $TEST_DB"
    # Owned by the test role: it creates and drops one schema per test.
    as_postgres createdb -p "$PORT" -O "$TEST_ROLE" -E UTF8 -T template0 "$TEST_DB"
  fi
  can_login || die "cannot log in as $TEST_ROLE to $TEST_DB on 127.0.0.1:$PORT (check pg_hba.conf allows scram-sha-256 or md5 on 127.0.0.1)"
fi

echo ready
