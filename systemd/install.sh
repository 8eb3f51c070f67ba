#!/usr/bin/env bash
# Installs node-daemon (default) or rental-hub (--hub) as a systemd service. Idempotent: a second run
# changes nothing that is already right, and never overwrites an edited env file.
#
#   install.sh [--key-file PATH|-] [--root DIR]     node-daemon; the wallet key from PATH, "-" = stdin
#   install.sh [--root DIR] < wallet.key            the same, the key piped in (interactive: asked, not echoed)
#   install.sh --hub [--root DIR]                   rental-hub
#   install.sh --release gpu-node-daemon-V.tgz ...  node-daemon, and the daemon itself from that npm pack archive
#
# node-daemon: system user node-daemon (in group docker), /etc/node-daemon/ (root 0750) holding
# wallet.key (root 0600; an existing one is kept when no key is given) and node-daemon.env (from
# node-daemon.env.example, only if absent), /data/worldland (the default mining data folder), and in
# /etc/systemd/system node-daemon.service and node-ssh-gateway.service (renters' SSH sessions). rental-hub:
# user rental-hub, /etc/rental-hub/ with rental-hub.env and database-url (root 0600, made empty once), the unit.
#
# --release ARCHIVE lays the daemon out for signed updates (node-daemon update): the archive unpacked
# into /opt/node-daemon/versions/<version>/ (root; its dependencies with npm install --omit=dev unless
# it bundles them), /opt/node-daemon/current -> versions/<version>, /opt/node-daemon/updates/ (the
# daemon's: it confirms an update there), /usr/bin/node-daemon and /usr/bin/node-ssh-gateway -> current's
# bins. Given again with a newer archive, it adds that version beside the others and switches current to it.
# node-daemon-update.service and .timer are installed, not enabled (automatic updates are the provider's call).
#
# --root DIR (or $DESTDIR) installs into a staging tree instead of / (users go into DIR/etc/passwd);
# systemctl is then left alone. Without --release the binaries (/usr/bin/node-daemon,
# /usr/bin/rental-hub) are not installed here: see the header of the unit files.
#
# The key is never printed, logged or put on a command line.
set -euo pipefail
umask 077

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PROG=install.sh

say() { printf '%s: %s\n' "$PROG" "$*"; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

mode=daemon
root=${DESTDIR:-}
key_src=""
release_src=""
while [ $# -gt 0 ]; do
  case $1 in
    --hub) mode=hub ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; root=$2; shift ;;
    --root=*) root=${1#--root=} ;;
    --key-file) [ $# -ge 2 ] || die "--key-file needs a path (or - for stdin)"; key_src=$2; shift ;;
    --key-file=*) key_src=${1#--key-file=} ;;
    --release) [ $# -ge 2 ] || die "--release needs an archive (npm pack output)"; release_src=$2; shift ;;
    --release=*) release_src=${1#--release=} ;;
    -h | --help) usage; exit 0 ;;
    -) key_src=- ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$key_src" ] || die "one key file only"; key_src=$1 ;;
  esac
  shift
done

root=${root%/}
if [ -n "$root" ]; then
  [ -d "$root" ] || die "--root $root is not a directory"
  root=$(cd "$root" && pwd)
  [ "$root" != / ] || root=""
fi
[ "$mode" = daemon ] || [ -z "$key_src" ] || die "--hub takes no wallet key (the hub has none)"
[ "$mode" = daemon ] || [ -z "$release_src" ] || die "--hub takes no --release (the hub is installed with npm; see deploy/README.md)"
if [ -n "$release_src" ]; then
  [ -f "$release_src" ] || die "--release $release_src: no such file"
  release_src=$(cd "$(dirname "$release_src")" && pwd)/$(basename "$release_src")
fi

is_root=no
[ "$(id -u)" -ne 0 ] || is_root=yes
[ "$is_root" = yes ] || [ -n "$root" ] || die "run as root (or give --root DIR to install into a staging tree)"

for tool in useradd usermod install cmp; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (PATH=$PATH); it comes with Debian's passwd/coreutils/diffutils"
done

# --- users and groups, in $root's /etc (or through NSS when installing into /).
passwd_entry() { if [ -z "$root" ]; then getent passwd "$1"; else grep "^$1:" "$root/etc/passwd"; fi; }
group_entry() { if [ -z "$root" ]; then getent group "$1"; else grep "^$1:" "$root/etc/group"; fi; }
prefix=()
[ -z "$root" ] || prefix=(--prefix "$root")
if [ -n "$root" ]; then
  for f in passwd group; do [ -f "$root/etc/$f" ] || die "$root/etc/$f missing: --root needs a tree with /etc/passwd and /etc/group"; done
fi

ensure_user() { # NAME COMMENT [GROUP]
  local name=$1 comment=$2 group=${3:-}
  if passwd_entry "$name" >/dev/null; then
    say "user $name exists"
  else
    useradd "${prefix[@]}" --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin --comment "$comment" "$name" || die "useradd $name failed"
    say "created system user $name"
  fi
  [ -n "$group" ] || return 0
  local members
  members=$(group_entry "$group" | cut -d: -f4)
  case ",$members," in
    *",$name,"*) say "user $name is in group $group" ;;
    *) usermod "${prefix[@]}" -a -G "$group" "$name" || die "usermod -a -G $group $name failed"
       say "added $name to group $group" ;;
  esac
}

uid_of() { passwd_entry "$1" | cut -d: -f3; }
gid_of() { passwd_entry "$1" | cut -d: -f4; }

# owner USER_OR_ROOT MODE PATH: root:root or the user's own uid:gid, numerically (the names may only exist in $root).
own() {
  local who=$1 perms=$2 path=$3
  chmod "$perms" "$path"
  [ "$is_root" = yes ] || return 0 # a staging tree as a normal user: modes only
  if [ "$who" = root ]; then chown 0:0 "$path"; else chown "$(uid_of "$who"):$(gid_of "$who")" "$path"; fi
}

ensure_dir() { # OWNER MODE PATH
  if [ ! -d "$3" ]; then
    (umask 022 && mkdir -p "$3") # parents it makes (/data, /etc/systemd) must stay searchable
    say "created ${3#"$root"}"
  fi
  own "$1" "$2" "$3"
}

# install_file SRC DEST MODE: copies SRC over DEST when they differ (root-owned).
install_file() {
  local src=$1 dest=$2 perms=$3 shown=${2#"$root"}
  [ -f "$src" ] || die "$src missing: run install.sh from the package's systemd/ folder"
  if [ -f "$dest" ] && cmp -s "$src" "$dest"; then
    say "$shown is up to date"
  else
    local verb=installed
    [ ! -e "$dest" ] || verb=updated
    install -m "$perms" "$src" "$dest.tmp.$$"
    mv -f "$dest.tmp.$$" "$dest"
    say "$verb $shown"
  fi
  own root "$perms" "$dest"
}

# template SRC DEST: the env file, written once; an operator's edits are never overwritten.
template() {
  local src=$1 dest=$2
  if [ -e "$dest" ]; then
    say "${dest#"$root"} exists: left as it is (compare with $src)"
    own root 0600 "$dest"
  else
    install -m 0600 "$src" "$dest"
    own root 0600 "$dest"
    say "wrote ${dest#"$root"} from $(basename "$src"): edit it"
  fi
}

# secret_file DEST: the hub's database-url credential, created empty (= SQLite) once; never read or printed.
secret_file() {
  local dest=$1 shown=${1#"$root"}
  if [ -e "$dest" ]; then
    say "$shown exists: left as it is"
  else
    : >"$dest"
    say "created $shown (empty: SQLite; for PostgreSQL put its postgres:// URL in it)"
  fi
  own root 0600 "$dest"
}

# --- the wallet key: read into a shell variable (no subprocess sees it), checked, written 0600.
key_tmp=""
cleanup() { [ -z "$key_tmp" ] || rm -f "$key_tmp"; }
trap cleanup EXIT

read_key() { # prints nothing; sets install_key's local "key"
  key=""
  local src=$key_src
  if [ -z "$src" ] && [ ! -t 0 ]; then src=-; fi
  if [ "$src" = - ]; then
    key=$(cat) || die "cannot read the wallet key from stdin"
  elif [ -n "$src" ]; then
    [ -e "$src" ] || die "wallet key file $src does not exist"
    [ -r "$src" ] || die "wallet key file $src is not readable by $(id -un)"
    local perms
    perms=$(stat -L -c %a "$src")
    if (( (8#$perms & 8#077) != 0 )); then
      die "refusing wallet key file $src: readable by group or others (mode $(printf '%04o' "$((8#$perms))")); consider the key exposed, then run: chmod 600 $src"
    fi
    key=$(<"$src")
  elif [ -t 0 ] && [ -t 2 ]; then
    IFS= read -r -s -p "wallet private key (64 hex digits, not echoed; empty keeps the installed one): " key </dev/tty || true
    printf '\n' >&2
  fi
  key=${key//[[:space:]]/}
}

install_key() { # DEST
  local dest=$1 shown=${1#"$root"}
  local key
  read_key
  if [ -z "$key" ]; then
    [ -f "$dest" ] || die "no wallet key: pipe it in (install.sh < wallet.key) or pass --key-file PATH; nothing was written for the key"
    say "no key given: keeping the installed $shown"
    own root 0600 "$dest"
    return 0
  fi
  [[ $key =~ ^(0[xX])?[0-9a-fA-F]{64}$ ]] ||
    die "the wallet key is not a private key: expected 64 hex digits, optionally prefixed with 0x (the input is not shown)"
  key_tmp=$(mktemp "$(dirname "$dest")/.wallet.key.XXXXXX")
  printf '%s\n' "$key" >"$key_tmp" # printf is a builtin: the key is on no command line
  key=""
  own root 0600 "$key_tmp"
  if [ -f "$dest" ] && cmp -s "$key_tmp" "$dest"; then
    rm -f "$key_tmp"
    say "$shown already holds this key"
  else
    local verb=installed
    [ ! -e "$dest" ] || verb=replaced
    mv -f "$key_tmp" "$dest"
    say "$verb $shown (root 0600)"
  fi
  key_tmp=""
}

# install_release ARCHIVE: the daemon laid out for node-daemon update (see the header).
install_release() {
  local src=$1 opt="$root/opt/node-daemon" version
  for tool in tar node; do command -v "$tool" >/dev/null 2>&1 || die "$tool not found: --release needs it"; done
  version=$(tar -xzOf "$src" package/package.json 2>/dev/null | node -e '
    let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
      try { const p = JSON.parse(t); if (p.name === "gpu-node-daemon" && /^\d+\.\d+\.\d+[-+.0-9A-Za-z]*$/.test(p.version)) return console.log(p.version); } catch {}
      process.exit(1);
    });') || die "--release $src is not an npm pack archive of gpu-node-daemon (package/package.json)"
  ensure_dir root 0755 "$opt"
  ensure_dir root 0755 "$opt/versions"
  # The only part the daemon may write: it removes updates/pending.json once a new version reached the hub.
  ensure_dir node-daemon 0755 "$opt/updates"
  local dest="$opt/versions/$version"
  if [ -d "$dest" ]; then
    say "${dest#"$root"} exists: left as it is"
  else
    local work
    work=$(mktemp -d "$opt/versions/.unpack-$version-XXXXXX")
    tar -xzf "$src" -C "$work" --no-same-owner || { rm -rf "$work"; die "cannot unpack $src"; }
    if [ ! -d "$work/package/node_modules" ]; then
      say "installing the dependencies of $version (npm install --omit=dev)"
      (cd "$work/package" && npm install --omit=dev --no-audit --no-fund --no-package-lock >/dev/null) || { rm -rf "$work"; die "npm install in $version failed"; }
    fi
    chmod -R u+rwX,go+rX,go-w "$work/package"
    chmod 0755 "$work/package/dist/cmd/node-daemon/main.js" 2>/dev/null || { rm -rf "$work"; die "$src has no dist/cmd/node-daemon/main.js (npm pack a built checkout)"; }
    [ ! -f "$work/package/dist/cmd/node-ssh-gateway/main.js" ] || chmod 0755 "$work/package/dist/cmd/node-ssh-gateway/main.js"
    mv "$work/package" "$dest"
    rmdir "$work"
    say "unpacked $version into ${dest#"$root"}"
  fi
  if [ "$(readlink "$opt/current" 2>/dev/null)" = "versions/$version" ]; then
    say "/opt/node-daemon/current is $version"
  else
    ln -sfn "versions/$version" "$opt/.current.tmp.$$"
    mv -Tf "$opt/.current.tmp.$$" "$opt/current"
    say "/opt/node-daemon/current -> versions/$version"
  fi
  link_bin node-daemon
  if [ -f "$dest/dist/cmd/node-ssh-gateway/main.js" ]; then
    link_bin node-ssh-gateway
  else
    say "$version has no node-ssh-gateway: run node-daemon with -ssh-gateway embedded (in node-daemon.env) until a version that has it"
  fi
}

# link_bin NAME: /usr/bin/NAME -> the current version's bin (an upgrade moves current, not the links).
link_bin() {
  local name=$1 bin="$root/usr/bin/$1" target=/opt/node-daemon/current/dist/cmd/$1/main.js
  [ -d "$root/usr/bin" ] || (umask 022 && mkdir -p "$root/usr/bin")
  if [ "$(readlink "$bin" 2>/dev/null)" = "$target" ]; then
    say "/usr/bin/$name -> $target (up to date)"
  else
    ln -sfn "$target" "$bin.tmp.$$"
    mv -Tf "$bin.tmp.$$" "$bin"
    say "linked /usr/bin/$name -> $target"
  fi
}

systemd_reload() {
  if [ -n "$root" ]; then
    say "installing into $root: systemctl left alone"
  elif [ -d /run/systemd/system ]; then
    systemctl daemon-reload || die "systemctl daemon-reload failed"
    say "systemctl daemon-reload done"
  else
    say "systemd is not running on this machine: skipped systemctl daemon-reload"
  fi
}

unit_dir="$root/etc/systemd/system"
if [ "$mode" = daemon ]; then
  group_entry docker >/dev/null || die "no docker group${root:+ in $root/etc/group}: install Docker first (its package creates the group the daemon needs for the socket)"
  ensure_user node-daemon "GPU rental node daemon" docker
  ensure_dir root 0750 "$root/etc/node-daemon"
  install_key "$root/etc/node-daemon/wallet.key"
  template "$HERE/node-daemon.env.example" "$root/etc/node-daemon/node-daemon.env"
  # The default -mining-data-dir: the unit makes it writable (ReadWritePaths=), containers bind-mount it.
  if [ ! -d "$root/data/worldland" ]; then ensure_dir node-daemon 0755 "$root/data/worldland"; fi
  ensure_dir root 0755 "$unit_dir"
  install_file "$HERE/node-daemon.service" "$unit_dir/node-daemon.service" 0644
  # Renters' SSH sessions: node-daemon.service wants it and runs -ssh-gateway external.
  install_file "$HERE/node-ssh-gateway.service" "$unit_dir/node-ssh-gateway.service" 0644
  install_file "$HERE/node-daemon-update.service" "$unit_dir/node-daemon-update.service" 0644
  install_file "$HERE/node-daemon-update.timer" "$unit_dir/node-daemon-update.timer" 0644
  [ -z "$release_src" ] || install_release "$release_src"
  systemd_reload
  bin_note=""
  [ -x "$root/usr/bin/node-daemon" ] || [ -L "$root/usr/bin/node-daemon" ] || bin_note="
  0. put the binaries at /usr/bin/node-daemon and /usr/bin/node-ssh-gateway (not there yet): install.sh
     --release ./gpu-node-daemon-*.tgz (npm pack in a checkout; signed updates work then), or npm install -g
     --prefix /usr with that archive, or see the header of node-daemon.service for the symlink way"
  cat <<EOF

next steps:$bin_note
  1. edit /etc/node-daemon/node-daemon.env: -hub HOST:8443, and pin the hub's CA with
     -hub-ca-fingerprint sha256:... (the hub logs it at every start; ask its operator)
  2. systemctl enable --now node-ssh-gateway node-daemon
     (the gateway holds renters' SSH sessions: restarting or upgrading node-daemon keeps them;
     restarting node-ssh-gateway ends them)
  3. journalctl -u node-daemon -f     (wait for "node registered")
  4. signed updates (needs --release): add -release-public-key-file /etc/node-daemon/release.pub
     (from the hub's operator) to the env file; then node-daemon update, or automatically:
     systemctl enable --now node-daemon-update.timer
EOF
else
  ensure_user rental-hub "GPU rental hub"
  ensure_dir root 0750 "$root/etc/rental-hub"
  template "$HERE/rental-hub.env.example" "$root/etc/rental-hub/rental-hub.env"
  # The unit's LoadCredential= fails the unit when this file is missing.
  secret_file "$root/etc/rental-hub/database-url"
  ensure_dir root 0755 "$unit_dir"
  install_file "$HERE/rental-hub.service" "$unit_dir/rental-hub.service" 0644
  systemd_reload
  bin_note=""
  [ -x "$root/usr/bin/rental-hub" ] || bin_note="
  0. put the binary at /usr/bin/rental-hub (not there yet): npm install -g --prefix /usr ./gpu-node-daemon-*.tgz"
  cat <<EOF

next steps:$bin_note
  1. edit /etc/rental-hub/rental-hub.env: -public-host (the name nodes use); for PostgreSQL, put its
     postgres://... URL in /etc/rental-hub/database-url (sudoedit keeps it 0600)
  2. systemctl enable --now rental-hub
  3. journalctl -u rental-hub | grep 'CA fingerprint'   (give it to every node as -hub-ca-fingerprint)
  4. back up /var/lib/rental-hub/ca/ca.key
EOF
fi
