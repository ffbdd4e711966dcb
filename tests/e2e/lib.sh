# Shared helpers for the shell end-to-end tests: a fresh data directory, the
# real binary on a random loopback port, and cleanup on exit.
set -euo pipefail
BUILD=${LAIR_BUILD:?set by ctest}
SRC=${LAIR_SRC:?set by ctest}
SHARED=${LAIR_SHARED:-$SRC/../shared}
BIN=$BUILD/libreair
STORIES=$SHARED/models/stories260K.gguf
WORK=$(mktemp -d /tmp/lair-e2e.XXXXXX)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# init_data: creates $WORK/data and sets KEY to the operator key.
init_data() {
    KEY=$("$BIN" init --data "$WORK/data" | tail -n1)
    [[ $KEY == lair_* ]] || fail "init printed no key"
}

# start_server ARGS...: starts serve on 127.0.0.1:0, sets URL, waits for ready.
start_server() {
    # Removed here, in this shell: the background job truncates its output
    # file only once it runs, so a restart could otherwise read the previous
    # server's "ready" line.
    # Earlier servers' output is kept in server-old.* for tests that grep logs.
    cat "$WORK/server.out" >>"$WORK/server-old.out" 2>/dev/null || true
    cat "$WORK/server.err" >>"$WORK/server-old.err" 2>/dev/null || true
    rm -f "$WORK/server.out" "$WORK/server.err"
    "$BIN" serve --data "$WORK/data" --listen 127.0.0.1:0 "$@" >"$WORK/server.out" 2>"$WORK/server.err" &
    SERVER_PID=$!
    local i
    for i in $(seq 1 600); do
        if grep -q '^libreair: ready' "$WORK/server.out" 2>/dev/null; then break; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.err" >&2; fail "server exited"; }
        sleep 0.1
    done
    URL=$(sed -n 's/^libreair: listening on \(https\{0,1\}:[^ ]*\)$/\1/p' "$WORK/server.out")
    [ -n "$URL" ] || { cat "$WORK/server.out" "$WORK/server.err" >&2; fail "no listening line"; }
}

# api METHOD PATH [BODY]: prints the body, sets STATUS.
api() {
    local method=$1 path=$2 body=${3:-}
    local args=(-sS -o "$WORK/resp" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $KEY")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$URL$path")
    cat "$WORK/resp"
}

# call KEY METHOD PATH [BODY]: one request with "Authorization: Bearer KEY"
# (and the BODY as JSON when given); sets STATUS, the body in $WORK/resp.
# expect STATUS KEY METHOD PATH [BODY]: call, then fail unless the status is
# STATUS; the message names the method, the path, the status got and wanted,
# and the start of the body.
# jqr FILTER: the last response ($WORK/resp) matches the jq FILTER (jq -e),
# else fail with the start of it.
# A test that needs another behaviour (no header for an empty key, another
# response file) defines its own after sourcing this file: it wins.
call() {
    local key=$1 method=$2 path=$3 body=${4:-}
    local args=(-sS -o "$WORK/resp" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $key")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$URL$path")
}
expect() {
    local want=$1
    shift
    call "$@"
    [ "$STATUS" = "$want" ] || fail "$2 $3: got $STATUS, want $want: $(head -c 400 "$WORK/resp")"
}
jqr() { jq -e "$1" "$WORK/resp" >/dev/null || fail "expected $1 in: $(head -c 600 "$WORK/resp")"; }
