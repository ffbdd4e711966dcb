#!/usr/bin/env bash
# The real server on a data directory that fills up: a small tmpfs mounted
# by the test (it runs as root in CI; it fails, never skips, when it cannot
# mount). While the server serves and a background client uploads documents
# without pause, the test fills the file system to its last byte, then sends
# the writes people make: uploads, key, tenant and knowledge-base creation,
# chat, conversation rename, erasure. Each must answer 2xx, or 507 with the OpenAI error shape
# (503 when saturated) — never a bare 500. Then the space comes back and:
# the service works again; every upload that was acknowledged (202) ends
# with all its files indexed, none failed for a transient reason; a tenant
# refused for lack of room does not exist; no upload is left behind; every
# database passes PRAGMA integrity_check and every audit chain verifies.
# The test runs in a mount namespace of its own (unshare), so that the tmpfs
# is never seen outside it and goes away with it, however the test ends; it
# is also unmounted on every way out that runs the shell's traps.
if [ -z "${LAIR_DISKFULL_NS:-}" ]; then
    [ "$(id -u)" = 0 ] || {
        echo "FAIL: t_diskfull.sh mounts a tmpfs: run it as root (CI does); it is not skipped" >&2
        exit 1
    }
    LAIR_DISKFULL_NS=1 exec unshare --mount --propagation private bash "$0" "$@"
fi
source "$(dirname "$0")/lib.sh"

SIZE_MB=24
MNT=$WORK/data
MOUNTED=
UPLOADER=
T0=$SECONDS

cleanup_diskfull() {
    if [ -n "$UPLOADER" ]; then
        kill "$UPLOADER" 2>/dev/null || true
        wait "$UPLOADER" 2>/dev/null || true
    fi
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "$MOUNTED" ]; then
        umount "$MNT" 2>/dev/null || umount -l "$MNT" || echo "FAIL: cannot unmount $MNT" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup_diskfull EXIT
trap 'exit 130' INT TERM HUP PIPE

mkdir -p "$MNT"
mount -t tmpfs -o "size=${SIZE_MB}m,mode=0700" tmpfs "$MNT" || fail "cannot mount a tmpfs on $MNT"
MOUNTED=1
[ "$(stat -f -c %T "$MNT")" = tmpfs ] || fail "$MNT is not the tmpfs"

init_data
OP=$KEY
export LIBREAIR_PURGE_INTERVAL=2 # deferred scrubs and erasures complete soon after space returns
start_server --model "stories=$STORIES" --slots 1 --ctx 256 --threads 1

as() { # as KEY METHOD PATH [BODY] -> STATUS, body in $WORK/resp
    local save=$KEY
    KEY=$1
    shift
    api "$@" >/dev/null
    KEY=$save
}
expect() { # expect STATUS KEY METHOD PATH [BODY]
    local want=$1
    shift
    as "$@"
    [ "$STATUS" = "$want" ] || fail "$2 $3: got $STATUS, want $want: $(head -c 400 "$WORK/resp")"
}
check() { jq -e "$1" "$WORK/resp" >/dev/null || fail "$2: $(head -c 600 "$WORK/resp")"; }
# storage_error FILE: a 507 body in the OpenAI error shape that says what happened
storage_error() {
    jq -e '.error | (.message | type == "string" and length > 10) and .type == "server_error"
        and has("code") and has("param")' "$1" >/dev/null || fail "507 without the error shape: $(head -c 400 "$1")"
}
# refused_or NAME OK_STATUS KEY METHOD PATH [BODY]: while the disk is full,
# a write either succeeds or is refused with 507 (503 when saturated)
declare -A FULL_STATUS
refused_or() {
    local name=$1 ok=$2
    shift 2
    as "$@"
    FULL_STATUS[$name]=$STATUS
    case $STATUS in
    "$ok") ;;
    507) storage_error "$WORK/resp" ;;
    503) ;;
    *) fail "$name on a full disk: $STATUS (want $ok or 507): $(head -c 400 "$WORK/resp")" ;;
    esac
}

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/assistants \
    '{"slug":"conte","model":"stories","instructions":"Tell a story.","retention_days":30}'
expect 200 "$ADMIN" POST /api/v1/assistants/conte/publish '{}'
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Documents"}'
chat_body() { jq -cn --arg u "$1" '{model:"conte",user:$u,messages:[{role:"user",content:"Once upon a time"}],max_tokens:8,temperature:0}'; }
SUBJECT=habitant-plein-42
for i in 1 2 3; do expect 200 "$ADMIN" POST /v1/chat/completions "$(chat_body "$SUBJECT")"; done
expect 200 "$ADMIN" GET /api/v1/conversations
CONV=$(jq -r '.data[0].id' "$WORK/resp")
[ -n "$CONV" ] && [ "$CONV" != null ] || fail "no conversation listed: $(head -c 300 "$WORK/resp")"
pass "tmpfs of ${SIZE_MB} MiB mounted as the data directory; tenant, assistant, knowledge base, conversations"

# ---- a client that uploads without pause ----
mkdir -p "$WORK/up" "$WORK/src"
uploader() {
    local i=0 k args status
    while [ ! -e "$WORK/stop" ]; do
        i=$((i + 1))
        args=()
        for k in 1 2 3 4; do
            {
                printf '# Délibération %d-%d\n\n' "$i" "$k"
                for s in $(seq 1 40); do
                    printf 'Le conseil municipal adopte la délibération %d-%d, point %d, motclef%dx%d.\n\n' "$i" "$k" "$s" "$i" "$k"
                done
            } >"$WORK/src/d$i-$k.md"
            args+=(-F "file=@$WORK/src/d$i-$k.md")
        done
        status=$(curl -sS -o "$WORK/up/$i.json" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
            "${args[@]}" "$URL/api/v1/knowledge-bases/docs/documents" 2>/dev/null || echo 000)
        echo "$i $status" >>"$WORK/uploads.log"
        rm -f "$WORK/src/d$i-"*.md
    done
}
uploads_with() { awk -v s="$1" '$2 == s' "$WORK/uploads.log" 2>/dev/null | wc -l; }
uploader &
UPLOADER=$!
for _ in $(seq 1 200); do
    [ "$(uploads_with 202)" -ge 3 ] && break
    sleep 0.05
done
[ "$(uploads_with 202)" -ge 3 ] || fail "the uploads do not go through before the disk is full"

# ---- fill the file system to its last byte, in the middle of a job ----
BIG=()
for k in $(seq 1 80); do
    for s in $(seq 1 120); do
        printf 'Article %d du règlement %d : les usagers de la médiathèque empruntent au plus dix documents, motgros%dx%d.\n\n' "$s" "$k" "$k" "$s"
    done >"$WORK/src/reglement$k.md"
    BIG+=(-F "file=@$WORK/src/reglement$k.md")
done
STATUS=$(curl -sS -o "$WORK/up/big.json" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    "${BIG[@]}" "$URL/api/v1/knowledge-bases/docs/documents")
[ "$STATUS" = 202 ] || fail "the big upload: $STATUS $(head -c 300 "$WORK/up/big.json")"
JOB_BIG=$(jq -r .job_id "$WORK/up/big.json")
cat /dev/zero >"$MNT/filler" 2>/dev/null && fail "writing the filler did not run out of space"
expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB_BIG"
DONE_AT_FULL=$(jq -r .done "$WORK/resp")
[ "$DONE_AT_FULL" -lt 80 ] || fail "the big job had ended before the disk was full: the test proves nothing"
for _ in $(seq 1 300); do # the client goes on: wait for its refusals
    [ "$(uploads_with 507)" -ge 3 ] && break
    sleep 0.05
done
[ "$(uploads_with 507)" -ge 3 ] || fail "uploads on a full disk: no 507 ($(cut -d' ' -f2 "$WORK/uploads.log" | sort | uniq -c | tr '\n' ' '))"
for f in "$WORK"/up/*.json; do
    n=${f##*/}
    n=${n%.json}
    if [ "$(awk -v n="$n" '$1 == n {print $2}' "$WORK/uploads.log")" = 507 ]; then storage_error "$f"; fi
done
touch "$WORK/stop"
wait "$UPLOADER" || true
UPLOADER=
BAD=$(awk '$2 != 202 && $2 != 507 && $2 != 503' "$WORK/uploads.log")
[ -z "$BAD" ] || fail "uploads answered other than 202, 507 or 503: $BAD"
expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB_BIG"
check '.state != "failed" and .errors == [] and all(.files[]; .state == "indexed" or .state == "pending")' \
    "the big job waits on the full disk, no file failed"
DONE_FULL=$(jq -r .done "$WORK/resp")
pass "uploads while the disk fills: $(uploads_with 202) acknowledged (202), $(uploads_with 507) refused (507, error shape); a job of 80 files waits at $DONE_FULL (no file failed)"

# ---- every kind of write on the full disk ----
cat /dev/zero >>"$MNT/filler" 2>/dev/null || true # what the refused uploads gave back
refused_or key.create 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
refused_or tenant.create 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"pleine","name":"Pleine"}'
TENANT_REFUSED=$([ "$STATUS" = 201 ] && echo no || echo yes)
refused_or kb.create 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"autre"}'
refused_or chat 200 "$ADMIN" POST /v1/chat/completions "$(chat_body "$SUBJECT")"
refused_or conversation.rename 200 "$ADMIN" PATCH "/api/v1/conversations/$CONV" \
    '{"title":"Renommée quand le disque est plein, un titre assez long pour écrire une page"}'
refused_or gdpr.erase 200 "$ADMIN" POST /api/v1/gdpr/erase "{\"subject\":\"$SUBJECT\"}"
[ "$STATUS" != 200 ] || check '.scrubbed == false or .scrubbed == true' "erasure answer"
ERASE_FULL=$STATUS
SUMMARY=""
for k in key.create tenant.create kb.create chat conversation.rename gdpr.erase; do SUMMARY+="$k ${FULL_STATUS[$k]}, "; done
expect 200 "$ADMIN" GET /api/v1/knowledge-bases # reads still work
pass "on the full disk: ${SUMMARY%, } (no 500); reads work"

# ---- space comes back ----
rm -f "$MNT/filler"
T_FREE=$SECONDS
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"apres"}'
expect 200 "$ADMIN" POST /api/v1/gdpr/erase "{\"subject\":\"$SUBJECT\"}"
# another subject: an exchange is recorded once its answer has gone, which an
# erasure right after could precede (docs/gdpr.md)
expect 200 "$ADMIN" POST /v1/chat/completions "$(chat_body habitant-apres)"
printf '# Après\n\nLe service reprend une fois la place rendue.\n' >"$WORK/src/apres.md"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    -F "file=@$WORK/src/apres.md" "$URL/api/v1/knowledge-bases/apres/documents")
[ "$STATUS" = 202 ] || fail "upload after space returned: $STATUS $(head -c 300 "$WORK/resp")"
cp "$WORK/resp" "$WORK/up/after.json"
expect 200 "$OP" GET /api/v1/tenants
if [ "$TENANT_REFUSED" = yes ]; then
    check '[.data[].slug] | index("pleine") == null' "a tenant refused with 507 does not exist"
    expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"pleine","name":"Pleine"}'
fi
pass "space back: key, knowledge base, chat, erasure, upload and tenant creation work again"

# ---- no acknowledged upload lost ----
JOBS=0
FILES=0
deadline=$((SECONDS + 40))
for f in "$WORK"/up/*.json; do
    job=$(jq -r '.job_id // empty' "$f" 2>/dev/null || true)
    [ -n "$job" ] || continue
    JOBS=$((JOBS + 1))
    while :; do
        expect 200 "$EDITOR" GET "/api/v1/jobs/$job"
        state=$(jq -r .state "$WORK/resp")
        [ "$state" = done ] || [ "$state" = failed ] && break
        [ $SECONDS -lt $deadline ] || fail "job $job did not end after space returned: $(head -c 400 "$WORK/resp")"
        sleep 0.1
    done
    check '.state == "done" and .errors == [] and .done == .total and all(.files[]; .state == "indexed")' \
        "every file of acknowledged job $job indexed, none failed"
    FILES=$((FILES + $(jq '.total' "$WORK/resp")))
done
[ "$JOBS" -ge 4 ] || fail "too few acknowledged jobs to mean anything ($JOBS)"
LEFT=$(find "$MNT/tenants" -path '*/uploads/*' -type f | wc -l)
[ "$LEFT" = 0 ] || fail "$LEFT uploaded files left behind"
pass "no acknowledged upload lost: $JOBS jobs, $FILES files, all indexed ($((SECONDS - T_FREE)) s after space returned); no upload left behind"

# ---- the erasure completed, nothing corrupted ----
for _ in $(seq 1 100); do # the purge run (every 2 s) completes what the full disk deferred
    expect 200 "$ADMIN" POST /api/v1/gdpr/export "{\"subject\":\"$SUBJECT\"}"
    jq -e '.conversations == [] and .erasure_pending == false' "$WORK/resp" >/dev/null && break
    sleep 0.1
done
check '.conversations == [] and .erasure_pending == false' "the subject erased"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
grep -q 'database disk image is malformed\|SQLITE_CORRUPT' "$WORK/server.err" && fail "corruption reported in the server log"
grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$WORK/server.err" && fail "sanitizer report in the server log"
for db in "$MNT/system.db" "$MNT"/tenants/*/tenant.db; do
    [ "$(sqlite3 "$db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check of $db"
    [ "$(sqlite3 "$db" 'PRAGMA foreign_key_check' | wc -l)" = 0 ] || fail "foreign keys of $db"
done
"$BIN" audit verify --data "$MNT" >/dev/null || fail "the operator's audit chain"
for t in "$MNT"/tenants/*/; do
    t=${t%/}
    "$BIN" audit verify --data "$MNT" --tenant "${t##*/}" >/dev/null || fail "the audit chain of ${t##*/}"
done
pass "integrity_check and foreign keys ok on every database, every audit chain verifies (erasure on the full disk: $ERASE_FULL)"
echo "# disk full: $(uploads_with 202) uploads acknowledged, $(uploads_with 507) refused, $JOBS jobs / $FILES files indexed, $((SECONDS - T0)) s in all"
