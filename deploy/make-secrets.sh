#!/usr/bin/env bash
# Writes the secrets deploy/compose.yaml hands to its containers, once: a random PostgreSQL password
# and the hub's database URL holding it, each a 0600 file in deploy/secrets/ owned by uid 1000 (the
# hub image's "node" user, which reads the URL through -database-url-file). Existing files are kept.
# Run it as root (or with sudo) so the files can be given to uid 1000.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/secrets"
install -d -m 0700 "$dir"
umask 077
if [ ! -s "$dir/postgres-password" ]; then
  # Hex only: it goes into a postgres:// URL unescaped.
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$dir/postgres-password"
fi
if [ ! -s "$dir/database-url" ]; then
  printf 'postgres://rental_hub:%s@postgres:5432/rental_hub\n' "$(cat "$dir/postgres-password")" > "$dir/database-url"
fi
chmod 0600 "$dir/postgres-password" "$dir/database-url"
chown 1000:1000 "$dir/postgres-password" "$dir/database-url" 2>/dev/null || echo "make-secrets.sh: could not give the files to uid 1000 (run as root): the hub could not read its database URL" >&2
echo "secrets in $dir (postgres-password, database-url)"
