#!/usr/bin/env bash
# The Debian package in a clean Debian 12 root: install, the service started
# as its unit starts it, TLS with curl --cacert, reload, a tenant, upgrade with
# the data kept and migrated, remove (data kept), purge (data and user gone);
# the unit's systemd-analyze security rating, and what the upgraded server
# does (strace) checked against the unit's sandbox (sandbox_check.sh).
#
#   tests/pkg/t_deb.sh NEW.deb [OLD.deb]      (root; make deb-test runs it)
#
# OLD.deb is the version upgraded from; without it, NEW.deb repacked with a
# lower version (UPSTREAM~prev-1) stands for it (then no migration is
# pending). Needs debootstrap, openssl, curl, jq, bc and systemd-analyze on
# this machine (strace for the sandbox check, skipped without it), and
# Debian's mirror through apt.
# The minbase root is debootstrapped once a week into
# ~/.cache/libreair/deb-test/ and copied for every run (LIBREAIR_DEB_FRESH=1:
# debootstrap now). KEEP=1 keeps the work folder.
#
# systemd cannot run in a chroot: the service is started as the unit would
# start it (its ExecStart, User, Group, UMask, LimitNOFILE and environment;
# no new privileges, no capabilities), and its sandbox directives are rated
# offline by systemd-analyze.
set -euo pipefail

NEW=$(realpath "${1:?usage: t_deb.sh NEW.deb [OLD.deb]}")
OLD=${2:+$(realpath "$2")}
[ "$(id -u)" -eq 0 ] || { echo "t_deb.sh: run as root (chroot, mount)" >&2; exit 2; }
for t in debootstrap openssl curl jq bc systemd-analyze dpkg-deb; do
    command -v "$t" >/dev/null || { echo "t_deb.sh: $t is needed" >&2; exit 2; }
done
MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
CACHE=${LIBREAIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libreair}/deb-test
SHARED=${LAIR_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/../shared}
STORIES=$SHARED/models/stories260K.gguf

WORK=$(mktemp -d /var/tmp/lair-deb.XXXXXX)
ROOT=$WORK/root
SERVER_PID=
LAUNCH_PID=
T0=$(date +%s.%N)
STEP_T=$T0

cleanup() {
    set +e
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$LAUNCH_PID" 2>/dev/null
    fi
    mountpoint -q "$ROOT/sys" && umount "$ROOT/sys"
    mountpoint -q "$ROOT/proc" && umount "$ROOT/proc"
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept $WORK"
    elif ! mountpoint -q "$ROOT/proc" && ! mountpoint -q "$ROOT/sys"; then
        rm -rf --one-file-system "$WORK"
    fi
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    [ -f "$WORK/server.err" ] && tail -20 "$WORK/server.err" >&2
    exit 1
}
# pass MESSAGE: prints it with the time the step took
pass() {
    local now
    now=$(date +%s.%N)
    printf 'ok - %s (%.1f s)\n' "$*" "$(echo "$now - $STEP_T" | bc)"
    STEP_T=$now
}
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
apt_root() { in_root env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }

# ---- the unit's rating ---------------------------------------------------------
dpkg-deb -x "$NEW" "$WORK/new"
UNIT=$(find "$WORK/new" -name libreair.service -path '*/systemd/system/*' | head -n1)
[ -n "$UNIT" ] || fail "the package has no libreair.service"
systemd-analyze security --offline=true "$UNIT" >"$WORK/security.txt" 2>&1 ||
    { cat "$WORK/security.txt" >&2; fail "systemd-analyze security failed"; }
rating=$(sed -n 's/.*Overall exposure level for libreair.service: \([0-9.]*\).*/\1/p' "$WORK/security.txt")
[ -n "$rating" ] || { cat "$WORK/security.txt" >&2; fail "no rating"; }
echo "$rating <= 2.0" | bc | grep -q 1 || { grep '✗' "$WORK/security.txt" >&2; fail "rating $rating > 2.0"; }
pass "systemd-analyze security --offline=true libreair.service: $rating (at most 2.0)"

# ---- a clean Debian 12 root ---------------------------------------------------
mkdir -p "$CACHE"
tarball=$CACHE/bookworm-minbase.tar
if [ "${LIBREAIR_DEB_FRESH:-0}" = 1 ] || [ -z "$(find "$tarball" -mtime -7 2>/dev/null)" ]; then
    rm -rf "$CACHE/root"
    debootstrap --variant=minbase bookworm "$CACHE/root" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
        { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap"; }
    tar -C "$CACHE/root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$CACHE/root"
    pass "debootstrap --variant=minbase bookworm (cached for a week in $tarball)"
fi
mkdir -p "$ROOT"
tar -C "$ROOT" -xf "$tarball"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${DEB_SECURITY_MIRROR:-http://deb.debian.org/debian-security} bookworm-security main
EOF
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d" # no daemon starts in the chroot
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
mount -t proc proc "$ROOT/proc"
# /sys read-only, as ProtectKernelTunables= leaves it (the CPU topology)
mount --bind -o ro /sys "$ROOT/sys" 2>/dev/null || mount -t sysfs -o ro sysfs "$ROOT/sys" ||
    fail "cannot mount /sys in the root"
apt_root update >"$WORK/apt-update.log" 2>&1 || { cat "$WORK/apt-update.log" >&2; fail "apt-get update"; }
in_root dpkg -s libreair >/dev/null 2>&1 && fail "the root is not clean"
pass "a clean bookworm root in $ROOT"

# ---- the previous version -------------------------------------------------------
new_version=$(dpkg-deb -f "$NEW" Version)
if [ -z "$OLD" ]; then
    old_version=${new_version%-*}~prev-1
    dpkg-deb -R "$NEW" "$WORK/repack"
    sed -i "s/^Version: .*/Version: $old_version/" "$WORK/repack/DEBIAN/control"
    OLD=$WORK/libreair_${old_version}_$(dpkg-deb -f "$NEW" Architecture).deb
    dpkg-deb --root-owner-group -b "$WORK/repack" "$OLD" >/dev/null
    rm -rf "$WORK/repack"
fi
old_version=$(dpkg-deb -f "$OLD" Version)
dpkg --compare-versions "$old_version" lt "$new_version" || fail "$old_version is not older than $new_version"
cp "$OLD" "$ROOT/tmp/old.deb"
cp "$NEW" "$ROOT/tmp/new.deb"

# ---- install --------------------------------------------------------------------
apt_root install /tmp/old.deb >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log" >&2; fail "apt-get install $OLD"; }
[ "$(in_root dpkg-query -W -f='${Version} ${db:Status-Status}' libreair)" = "$old_version installed" ] ||
    fail "libreair $old_version is not installed"
grep -q 'libreair: operator key written to /etc/libreair/operator.key' "$WORK/install.log" ||
    { cat "$WORK/install.log" >&2; fail "the install does not say where the operator key is"; }
KEY=$(cat "$ROOT/etc/libreair/operator.key")
[[ $KEY == lair_* ]] || fail "no operator key in /etc/libreair/operator.key"
grep -q "$KEY" "$WORK/install.log" && fail "the operator key was printed"
pass "apt-get install libreair $old_version (dependencies from the mirror; key not printed)"

pw=$(in_root getent passwd libreair) || fail "no libreair user"
IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
[ "$uid" -lt 1000 ] || fail "libreair is not a system user (uid $uid)"
[ "$home" = /var/lib/libreair ] || fail "home $home"
[ "$shell" = /usr/sbin/nologin ] || fail "shell $shell"
[ "$(in_root getent group libreair | cut -d: -f3)" = "$gid" ] || fail "no libreair group"
perm() { in_root stat -c '%a %U:%G' "$1"; }
[ "$(perm /var/lib/libreair)" = "700 libreair:libreair" ] || fail "/var/lib/libreair: $(perm /var/lib/libreair)"
[ "$(perm /var/lib/libreair/system.db)" = "600 libreair:libreair" ] ||
    [ "$(perm /var/lib/libreair/system.db)" = "644 libreair:libreair" ] || fail "system.db: $(perm /var/lib/libreair/system.db)"
[ -z "$(in_root find /var/lib/libreair ! -user libreair)" ] || fail "files in /var/lib/libreair not owned by libreair"
[ "$(perm /etc/libreair/operator.key)" = "600 root:root" ] || fail "operator.key: $(perm /etc/libreair/operator.key)"
[ "$(perm /etc/libreair/config.json)" = "644 root:root" ] || fail "config.json: $(perm /etc/libreair/config.json)"
in_root dpkg-query -W -f='${Conffiles}\n' libreair | grep -q '/etc/libreair/config.json' || fail "config.json is not a conffile"
[ "$(perm /usr/bin/libreair)" = "755 root:root" ] || fail "/usr/bin/libreair: $(perm /usr/bin/libreair)"
[ -f "$ROOT/lib/systemd/system/libreair.service" ] || [ -f "$ROOT/usr/lib/systemd/system/libreair.service" ] ||
    fail "no unit installed"
[ -L "$ROOT/etc/systemd/system/multi-user.target.wants/libreair.service" ] || fail "the unit is not enabled"
in_root libreair --help >/dev/null || fail "the installed binary does not run (missing libraries?)"
pass "user, group, directories and modes; key file 0600 root; unit enabled"

# ---- start the service as its unit does -------------------------------------------
unit=$(in_root sh -c 'cat /lib/systemd/system/libreair.service 2>/dev/null || cat /usr/lib/systemd/system/libreair.service')
setting() { sed -n "s/^$1=//p" <<<"$unit" | tail -n1; }
EXEC=$(setting ExecStart)
RUSER=$(setting User)
RGROUP=$(setting Group)
UMASK=$(setting UMask)
NOFILE=$(setting LimitNOFILE)
[ -n "$EXEC" ] && [ "$RUSER" = libreair ] && [ "$RGROUP" = libreair ] && [ -n "$UMASK" ] && [ -n "$NOFILE" ] ||
    fail "the unit lacks ExecStart, User, Group, UMask or LimitNOFILE"

T=$WORK/tls
mkdir -p "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=LibreAIr test CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null || fail "cannot make the CA"
server_cert() { # NAME SERIAL
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/ext"
    openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "$2" -days 2 \
        -extfile "$T/ext" -out "$T/$1.pem" 2>/dev/null || fail "cannot sign $1"
}
server_cert one 1001
server_cert two 2002
# as an operator would: the chain readable by all, the key by the service's group
install_cert() { # NAME
    mkdir -p "$ROOT/etc/libreair/tls"
    install -m 0644 "$T/$1.pem" "$ROOT/etc/libreair/tls/fullchain.pem"
    install -m 0640 "$T/$1.key" "$ROOT/etc/libreair/tls/privkey.pem"
    in_root chgrp libreair /etc/libreair/tls/privkey.pem
}
install_cert one

free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    fail "no free port"
}
PORT=$(free_port)
models='[]'
if [ -f "$STORIES" ]; then
    install -m 0640 "$STORIES" "$ROOT/var/lib/libreair/models/stories260K.gguf"
    in_root chown libreair:libreair /var/lib/libreair/models/stories260K.gguf
    models='[{"name": "stories", "path": "/var/lib/libreair/models/stories260K.gguf", "slots": 2, "ctx": 512, "threads": 1}]'
fi
# the operator's changes to the conffile: kept across the upgrade
cat >"$ROOT/etc/libreair/config.json" <<EOF
{
  "listen": "127.0.0.1:$PORT",
  "data": "/var/lib/libreair",
  "tls": {"cert": "/etc/libreair/tls/fullchain.pem", "key": "/etc/libreair/tls/privkey.pem"},
  "models": $models,
  "limits": {"max_connections": 2048, "drain_timeout_s": 30}
}
EOF
CONFIG_SUM=$(sha256sum <"$ROOT/etc/libreair/config.json")

# LimitNOFILE= as the unit sets it, unless this machine's hard limit is lower
# and may not be raised (a container without CAP_SYS_RESOURCE): then that
# limit, still above the 2048 connections plus 512 the server asks for
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$NOFILE" ] && ! (ulimit -n "$NOFILE") 2>/dev/null; then
    echo "# LimitNOFILE=$NOFILE: this machine's hard limit is $hard, the service runs with $hard"
    NOFILE=$hard
fi

URL=https://127.0.0.1:$PORT
start_service() { # [TRACE]: under strace -f, written to TRACE
    local pre=()
    [ -z "${1:-}" ] || pre=(strace -f -qq -o "$1")
    rm -f "$WORK/server.out" "$WORK/server.err"
    # root raises the open-files limit (LimitNOFILE=), then setpriv drops to
    # the unit's user with no capability and no way to gain privileges
    # (NoNewPrivileges=, CapabilityBoundingSet=), in the environment systemd
    # gives a service (StateDirectory=, ConfigurationDirectory=, User=)
    # shellcheck disable=SC2086
    "${pre[@]}" chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 HOME=/var/lib/libreair USER=libreair LOGNAME=libreair SHELL=/usr/sbin/nologin \
        STATE_DIRECTORY=/var/lib/libreair CONFIGURATION_DIRECTORY=/etc/libreair \
        /bin/sh -c 'ulimit -n "$1" && umask "$2" && shift 2 && exec "$@"' sh "$NOFILE" "$UMASK" \
        setpriv --reuid="$RUSER" --regid="$RGROUP" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all -- $EXEC >"$WORK/server.out" 2>"$WORK/server.err" &
    LAUNCH_PID=$!
    SERVER_PID=$LAUNCH_PID
    if [ ${#pre[@]} -gt 0 ]; then # the server is strace's child
        SERVER_PID=
        for _ in $(seq 1 100); do
            SERVER_PID=$(ps --ppid "$LAUNCH_PID" -o pid= | tr -d ' ' | head -n1 || true)
            [ -n "$SERVER_PID" ] && break
            sleep 0.1
        done
        [ -n "$SERVER_PID" ] || fail "strace started no server"
    fi
    for _ in $(seq 1 300); do
        grep -q '^libreair: ready' "$WORK/server.out" 2>/dev/null && break
        kill -0 "$LAUNCH_PID" 2>/dev/null || fail "the service exited at start"
        sleep 0.1
    done
    grep -q '^libreair: ready' "$WORK/server.out" || fail "the service is not ready after 30 s"
    grep -q "^libreair: listening on $URL\$" "$WORK/server.out" || fail "not listening on $URL: $(cat "$WORK/server.out")"
    [ "$(stat -c %U "/proc/$SERVER_PID")" = libreair ] ||
        [ "$(stat -c %u "/proc/$SERVER_PID")" = "$uid" ] || fail "the service does not run as libreair"
    grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$SERVER_PID/status" || fail "the service may gain privileges"
    grep -q '^CapEff:[[:space:]]*0000000000000000' "/proc/$SERVER_PID/status" || fail "the service has capabilities"
}
stop_service() {
    local t rc=0
    t=$(date +%s)
    kill -TERM "$SERVER_PID"
    wait "$LAUNCH_PID" || rc=$?
    SERVER_PID=
    [ "$rc" = 0 ] || fail "the service exited $rc on SIGTERM"
    [ $(($(date +%s) - t)) -lt 30 ] || fail "SIGTERM took longer than the drain timeout"
    grep -q 'shutting down' "$WORK/server.err" || fail "no drain on SIGTERM"
}
tc() { curl -sS --cacert "$T/ca.pem" "$@"; }
api() { # METHOD PATH [BODY] [KEY]: prints the body, sets STATUS
    local args=(-o "$WORK/resp" -w '%{http_code}' -X "$1" -H "Authorization: Bearer ${4:-$KEY}")
    [ -n "${3:-}" ] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    STATUS=$(tc "${args[@]}" "$URL$2")
    cat "$WORK/resp"
}
served_serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.pem" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | cut -d= -f2
}

start_service
pass "the service started as its unit starts it (libreair, NoNewPrivs, no capabilities)"

[ "$(tc -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] || fail "healthz over TLS with --cacert"
curl -sS -o /dev/null "$URL/healthz" 2>/dev/null && fail "an unknown CA was trusted"
curl -sS -o /dev/null "http://127.0.0.1:$PORT/healthz" 2>/dev/null && fail "clear HTTP answered on the TLS port"
tc -D - -o /dev/null "$URL/healthz" | grep -qi '^strict-transport-security: max-age=31536000' || fail "no HSTS"
# the version upgraded from may predate "admin_key" (it then always returned one)
api POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville de Test"}' >/dev/null
if [ "$STATUS" = 422 ] && jq -e '.error.param == "admin_key"' "$WORK/resp" >/dev/null; then
    api POST /api/v1/tenants '{"slug":"ville","name":"Ville de Test"}' >/dev/null
fi
[ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "tenant create $STATUS: $(cat "$WORK/resp")"
ADMIN=$(jq -r .admin_key "$WORK/resp")
[[ $ADMIN == lair_* ]] || fail "no tenant admin key: $(cat "$WORK/resp")"
api GET /api/v1/tenants | jq -e '[.. | .slug? // empty] | index("ville")' >/dev/null || fail "ville not listed"
api POST /api/v1/knowledge-bases '{"slug":"demarches","name":"Démarches"}' "$ADMIN" >/dev/null
[ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "knowledge base create $STATUS: $(cat "$WORK/resp")"
if [ "$models" != '[]' ]; then
    api POST /v1/chat/completions '{"model":"stories","max_tokens":8,"messages":[{"role":"user","content":"Once upon a time"}]}' >/dev/null
    [ "$STATUS" = 200 ] || fail "chat $STATUS: $(cat "$WORK/resp")"
    jq -e '.choices[0].message.content | length > 0' "$WORK/resp" >/dev/null || fail "empty completion"
    chat=" and a completion from the packaged llama.cpp"
fi
pass "curl --cacert: healthz, HSTS; tenant ville and its knowledge base created${chat:-}"

# ExecReload= (SIGHUP): a renewed certificate is served, nothing stops
[ "$(served_serial)" = 03E9 ] || fail "served serial $(served_serial)"
install_cert two
kill -HUP "$SERVER_PID"
for _ in $(seq 1 50); do [ "$(served_serial)" = 07D2 ] && break; sleep 0.1; done
[ "$(served_serial)" = 07D2 ] || fail "the renewed certificate is not served after SIGHUP"
kill -0 "$SERVER_PID" || fail "SIGHUP stopped the service"
pass "reload (SIGHUP): the renewed certificate is served"

stop_service
pass "SIGTERM: drained and exited 0"

# ---- upgrade -------------------------------------------------------------------
# schema DB: the database's schema version (PRAGMA user_version: the number
# of migrations applied), read from its header (offset 60, big-endian) with
# the service stopped, so that no -wal file holds a newer one
schema() {
    local f=$ROOT/var/lib/libreair/$1
    [ -f "$f" ] && [ ! -s "$f-wal" ] || fail "$1 is missing or has a write-ahead log left"
    od -An -tu1 -j60 -N4 "$f" | awk '{print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4}'
}
sys_v0=$(schema system.db)
ten_v0=$(schema tenants/ville/tenant.db)
db_inode=$(stat -c %i "$ROOT/var/lib/libreair/system.db")
KEY_SUM=$(sha256sum <"$ROOT/etc/libreair/operator.key")
apt_root install /tmp/new.deb >"$WORK/upgrade.log" 2>&1 || { cat "$WORK/upgrade.log" >&2; fail "apt-get install $NEW"; }
[ "$(in_root dpkg-query -W -f='${Version} ${db:Status-Status}' libreair)" = "$new_version installed" ] ||
    fail "libreair $new_version is not installed"
grep -q 'operator key written' "$WORK/upgrade.log" && fail "the upgrade initialised again"
[ "$(sha256sum <"$ROOT/etc/libreair/operator.key")" = "$KEY_SUM" ] || fail "the upgrade changed the key file"
[ "$(sha256sum <"$ROOT/etc/libreair/config.json")" = "$CONFIG_SUM" ] || fail "the upgrade replaced the operator's config.json"
[ "$(stat -c %i "$ROOT/var/lib/libreair/system.db")" = "$db_inode" ] || fail "system.db was replaced"
[ -d "$ROOT/var/lib/libreair/tenants/ville" ] || fail "the tenant's folder is gone"
pass "apt-get install libreair $new_version: an upgrade, data, key and modified config.json kept"

# an upstream pool, "relay": this same server over TLS, as another LibreAIr
# or a vLLM would be, so that the service makes outbound connections too
# (its key file: the operator key, readable by the service's group)
if [ "$models" != '[]' ]; then
    printf "%s\n" "$KEY" >"$ROOT/etc/libreair/relay.key"
    chmod 0640 "$ROOT/etc/libreair/relay.key"
    in_root chgrp libreair /etc/libreair/relay.key
    install -m 0644 "$T/ca.pem" "$ROOT/etc/libreair/tls/ca.pem"
    jq --arg url "$URL/v1" '.models += [{"name": "relay", "upstreams": [{"url": $url, "model": "stories",
        "api_key_file": "/etc/libreair/relay.key", "ca_file": "/etc/libreair/tls/ca.pem"}]}]' \
        "$ROOT/etc/libreair/config.json" >"$WORK/config.json"
    cat "$WORK/config.json" >"$ROOT/etc/libreair/config.json"
fi

# the new version runs under strace: what it does is then checked against
# the unit's sandbox (tests/pkg/sandbox_check.sh)
TRACE=
if command -v strace >/dev/null; then
    TRACE=$WORK/strace.txt
else
    echo "# strace is not installed: the server's system calls and files are not checked against the sandbox"
fi
start_service "$TRACE"
api GET /api/v1/tenants | jq -e '[.. | .slug? // empty] | index("ville")' >/dev/null || fail "ville is gone after the upgrade"
api GET /api/v1/knowledge-bases '' "$ADMIN" | grep -q demarches || fail "the tenant admin key or the knowledge base is gone: $STATUS"
# live settings on the migrated tenants table (allowed_models: system.db v5)
if [ "$models" != '[]' ]; then
    api PATCH /api/v1/tenants/ville '{"limits": {"rpm": 77}, "allowed_models": ["stories"]}' >/dev/null
else
    api PATCH /api/v1/tenants/ville '{"limits": {"rpm": 77}}' >/dev/null
fi
[ "$STATUS" = 200 ] || fail "PATCH the tenant after the upgrade: $STATUS $(cat "$WORK/resp")"
api GET /api/v1/tenants | jq -e '[.. | objects | select(.slug? == "ville") | .limits.rpm] | index(77)' >/dev/null ||
    fail "the tenant's new limit is not kept: $(cat "$WORK/resp")"
if [ "$models" != '[]' ]; then
    api POST /v1/chat/completions '{"model":"stories","max_tokens":8,"messages":[{"role":"user","content":"Once upon a time"}]}' >/dev/null
    [ "$STATUS" = 200 ] || fail "chat after the upgrade $STATUS: $(cat "$WORK/resp")"
    api POST /v1/chat/completions '{"model":"relay","max_tokens":8,"messages":[{"role":"user","content":"Once upon a time"}]}' >/dev/null
    [ "$STATUS" = 200 ] || fail "chat through the upstream pool $STATUS: $(cat "$WORK/resp")"
    jq -e '.choices[0].message.content | length > 0' "$WORK/resp" >/dev/null || fail "empty completion from the upstream"
    relayed=", a completion through an upstream (outbound TLS)"
fi
install_cert one
kill -HUP "$SERVER_PID"
for _ in $(seq 1 50); do [ "$(served_serial)" = 03E9 ] && break; sleep 0.1; done
[ "$(served_serial)" = 03E9 ] || fail "the certificate is not reloaded after the upgrade"
stop_service
sys_v1=$(schema system.db)
ten_v1=$(schema tenants/ville/tenant.db)
[ "$sys_v1" -ge "$sys_v0" ] && [ "$ten_v1" -ge "$ten_v0" ] || fail "schema went back"
if [ "$sys_v1" != "$sys_v0" ] || [ "$ten_v1" != "$ten_v0" ]; then
    migrated="migrated: system.db schema v$sys_v0 -> v$sys_v1, tenant.db v$ten_v0 -> v$ten_v1"
else
    migrated="no migration pending (system.db v$sys_v0, tenant.db v$ten_v0: $old_version has the same schema)"
fi
pass "after the upgrade the server opened the data ($migrated): tenant, admin key, knowledge base there; limits changed, a completion${relayed:-}, a reload"
if [ -n "$TRACE" ]; then
    verdict=$("$(dirname "$0")/sandbox_check.sh" "$TRACE" "$UNIT") || fail "the server needs more than its unit allows (above)"
    pass "traced: $verdict"
fi

# ---- remove, purge ----------------------------------------------------------------
apt_root remove libreair >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log" >&2; fail "apt-get remove"; }
[ -e "$ROOT/usr/bin/libreair" ] && fail "remove left the binary"
[ -f "$ROOT/var/lib/libreair/system.db" ] && [ -d "$ROOT/var/lib/libreair/tenants/ville" ] || fail "remove deleted the data"
[ -f "$ROOT/etc/libreair/operator.key" ] && [ -f "$ROOT/etc/libreair/config.json" ] || fail "remove deleted the configuration"
in_root getent passwd libreair >/dev/null || fail "remove deleted the user"
pass "apt-get remove: binary gone; data, configuration, key and user kept"

apt_root purge libreair >"$WORK/purge.log" 2>&1 || { cat "$WORK/purge.log" >&2; fail "apt-get purge"; }
in_root dpkg-query -W -f='${db:Status-Status}' libreair 2>/dev/null | grep -q installed && fail "still known to dpkg"
[ -e "$ROOT/var/lib/libreair" ] && fail "purge left /var/lib/libreair"
[ -e "$ROOT/etc/libreair/operator.key" ] && fail "purge left the operator key"
[ -e "$ROOT/etc/libreair/config.json" ] && fail "purge left config.json"
[ -f "$ROOT/etc/libreair/tls/privkey.pem" ] || fail "purge deleted the operator's own TLS files"
in_root getent passwd libreair >/dev/null && fail "purge left the libreair user"
in_root getent group libreair >/dev/null && fail "purge left the libreair group"
[ -e "$ROOT/etc/systemd/system/multi-user.target.wants/libreair.service" ] && fail "purge left the unit enabled"
pass "apt-get purge: data, key, config.json, user and group gone (the operator's TLS files stay)"

printf 'all steps passed in %.0f s\n' "$(echo "$(date +%s.%N) - $T0" | bc)"
