#!/usr/bin/env bash
# Backups against the real binary (docs/operations.md), while the server
# serves and writes: 4 clients chat with stories260K (conversations) and
# upload documents (ingestion jobs) in two tenants while `libreair backup`
# runs (three times, and more until a write was acknowledged during one). Then: `backup verify`; a restore into a new directory
# with PRAGMA integrity_check ok on every database and `audit verify` ok on
# every log; every conversation and every upload acknowledged before the
# backup started is in the restored data, and a server started on it
# finishes the pending jobs (the documents are searchable). The erasure
# canary: a subject chats with a unique string, a backup is taken, the
# subject is erased through the API, the backup is restored: the string is
# in no restored file (databases, -wal, journals, anything), the subject's
# conversations are gone and the audit logs verify (and --no-replay, as a
# control, brings it back). `backup verify` finds a changed byte, a missing
# and an unlisted file, a restore
# refuses a damaged backup and a non-empty directory. Bounded: the writers
# stop after the backups, and at the latest after 90 seconds.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server --model "stories=$STORIES" --slots 2 --ctx 256 --threads 1 --backup-retention-days 30

now_ms() { date +%s%3N; }
sql() { sqlite3 -readonly "$1" "$2"; }

declare -A ADMIN
for t in ville-a ville-b; do
    expect 201 "$OP" POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$t\",\"name\":\"$t\"}"
    ADMIN[$t]=$(jq -r .admin_key "$WORK/resp")
    expect 201 "${ADMIN[$t]}" POST /api/v1/assistants \
        '{"slug":"conte","model":"stories","instructions":"Tell a story."}'
    expect 200 "${ADMIN[$t]}" POST /api/v1/assistants/conte/publish '{}'
    expect 201 "${ADMIN[$t]}" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Docs"}'
done
# some bulk, so that a copy takes long enough to overlap with the writers
mkdir -p "$WORK/docs"
for i in $(seq 1 4000); do echo "Paragraphe $i : la mairie de la commune publie ses horaires, ses délibérations et ses arrêtés."; done >"$WORK/docs/bulk.txt"
for t in ville-a ville-b; do
    STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer ${ADMIN[$t]}" \
        -F "file=@$WORK/docs/bulk.txt" "$URL/api/v1/knowledge-bases/docs/documents")
    [ "$STATUS" = 202 ] || fail "bulk upload: $STATUS"
done

# writer N TENANT: chats and uploads until $WORK/stop exists (or 90 s);
# each acknowledged write is logged as "<ms> conv|job <id> <tenant>"
writer() {
    local n=$1 t=$2 key=${ADMIN[$2]} i=0 st id end=$(($(date +%s) + 90))
    local log="$WORK/writes.$n"
    while [ ! -e "$WORK/stop" ] && [ "$(date +%s)" -lt "$end" ]; do
        i=$((i + 1))
        st=$(curl -sS -o "$WORK/w$n.resp" -w '%{http_code}' -H "Authorization: Bearer $key" \
            -H 'Content-Type: application/json' \
            --data-binary "{\"model\":\"conte\",\"user\":\"client-$n\",\"max_tokens\":4,\"temperature\":0,\"messages\":[{\"role\":\"user\",\"content\":\"writer $n message $i\"}]}" \
            "$URL/v1/chat/completions") || st=000
        if [ "$st" = 200 ]; then
            id=$(jq -r .conversation_id "$WORK/w$n.resp")
            echo "$(now_ms) conv $id $t" >>"$log"
        fi
        if [ $((i % 3)) = 0 ]; then
            printf 'Document %s-%s : le mot unique est mot%sx%s.\n' "$n" "$i" "$n" "$i" >"$WORK/docs/w$n-$i.txt"
            st=$(curl -sS -o "$WORK/w$n.resp" -w '%{http_code}' -H "Authorization: Bearer $key" \
                -F "file=@$WORK/docs/w$n-$i.txt" "$URL/api/v1/knowledge-bases/docs/documents") || st=000
            if [ "$st" = 202 ]; then
                id=$(jq -r .job_id "$WORK/w$n.resp")
                echo "$(now_ms) job $id $t w$n-$i.txt" >>"$log"
            fi
        fi
    done
}

WRITERS=()
for n in 1 2 3 4; do
    t=ville-a
    [ $((n % 2)) = 0 ] && t=ville-b
    writer "$n" "$t" &
    WRITERS+=($!)
done
stop_writers() {
    touch "$WORK/stop"
    local p
    for p in "${WRITERS[@]}"; do wait "$p" || true; done
}
trap 'touch "$WORK/stop"; cleanup' EXIT

# wait until the writers have written something, then back up (three times,
# and more until a write was acknowledged while a backup ran)
for i in $(seq 1 300); do
    [ "$(cat "$WORK"/writes.* 2>/dev/null | wc -l)" -ge 8 ] && break
    sleep 0.1
done
# writes acknowledged while backup b ran (its manifest's start and end)
during() {
    local s f
    s=$(jq -r .started_at_ms "$WORK/bk$1/manifest.json")
    f=$(date -d "$(jq -r .finished_at "$WORK/bk$1/manifest.json")" +%s%3N)
    cat "$WORK"/writes.* | awk -v s="$s" -v f="$f" '$1 >= s && $1 <= f' | wc -l
}
b=0 overlap=0
while [ "$b" -lt 3 ] || { [ "$overlap" = 0 ] && [ "$b" -lt 10 ]; }; do
    b=$((b + 1))
    T0=$(date +%s%N)
    "$BIN" backup --data "$WORK/data" --to "$WORK/bk$b" >"$WORK/backup.out" 2>&1 ||
        { cat "$WORK/backup.out" >&2; fail "backup $b"; }
    echo "backup $b: $((($(date +%s%N) - T0) / 1000000)) ms"
    overlap=$((overlap + $(during "$b")))
done
stop_writers
[ -s "$WORK/writes.1" ] && [ -s "$WORK/writes.4" ] || fail "the writers wrote nothing"

BK=$WORK/bk$b
STARTED=$(jq -r .started_at_ms "$BK/manifest.json")
before=$(cat "$WORK"/writes.* | awk -v s="$STARTED" '$1 < s' | wc -l)
after=$(cat "$WORK"/writes.* | awk -v s="$STARTED" '$1 >= s' | wc -l)
echo "writes acknowledged: $before before the last backup, $after after it began, $overlap while a backup ran"
[ "$before" -gt 0 ] || fail "nothing was written before the backup"
[ "$overlap" -gt 0 ] || fail "no write was acknowledged while a backup ran"
pass "$b backups while 4 clients wrote ($overlap writes acknowledged during them)"

# ---- verify, restore ----
"$BIN" backup verify "$BK" >"$WORK/verify.out" || { cat "$WORK/verify.out" >&2; fail "verify"; }
(cd "$BK" && sha256sum -c --quiet SHA256SUMS) || fail "sha256sum -c"
[ "$(stat -c %a "$BK")" = 700 ] && [ "$(stat -c %a "$BK/pepper")" = 600 ] || fail "backup permissions"
R=$WORK/restored
"$BIN" restore --from "$BK" --data "$R" >"$WORK/restore.out" 2>&1 || { cat "$WORK/restore.out" >&2; fail "restore"; }
for db in "$R/system.db" "$R"/tenants/*/tenant.db; do
    [ "$(sql "$db" 'PRAGMA integrity_check')" = ok ] || fail "integrity_check $db"
done
"$BIN" audit verify --data "$R" >/dev/null || fail "audit verify (operator) after restore"
for t in ville-a ville-b; do
    "$BIN" audit verify --data "$R" --tenant "$t" >/dev/null || fail "audit verify $t after restore"
done
missing=0 checked=0
while read -r ms kind id t name; do
    [ "$ms" -lt "$STARTED" ] || continue
    checked=$((checked + 1))
    db="$R/tenants/$t/tenant.db"
    if [ "$kind" = conv ]; then
        [ "$(sql "$db" "SELECT count(*) FROM messages WHERE conversation_id = '$id'")" = 2 ] ||
            { echo "missing conversation $id ($t)" >&2; missing=$((missing + 1)); }
    else
        [ "$(sql "$db" "SELECT count(*) FROM jobs WHERE id = $id")" = 1 ] ||
            { echo "missing job $id ($t)" >&2; missing=$((missing + 1)); }
        # a file still pending has its upload in the restored directory
        while read -r path; do
            [ -f "$R/tenants/$t/$path" ] || { echo "missing upload $path" >&2; missing=$((missing + 1)); }
        done < <(sql "$db" "SELECT path FROM job_files WHERE job_id = $id AND state = 'pending'")
    fi
done < <(cat "$WORK"/writes.*)
[ "$missing" = 0 ] || fail "$missing acknowledged writes missing from the restored data"
pending=$( (find "$R"/tenants -path '*/uploads/*' -type f || true) | wc -l)
pass "restore: integrity_check ok, audit verify ok, the $checked writes acknowledged before the backup are there ($pending uploads of pending jobs came along)"

# ---- the erasure canary ----
CANARY="CANARY$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
SUBJECT="canari-$CANARY"
for i in 1 2; do
    expect 200 "${ADMIN[ville-a]}" POST /v1/chat/completions \
        "{\"model\":\"conte\",\"user\":\"$SUBJECT\",\"max_tokens\":4,\"messages\":[{\"role\":\"user\",\"content\":\"mon secret est $CANARY\"}]}"
done
"$BIN" backup --data "$WORK/data" --to "$WORK/bk-canary" >/dev/null || fail "backup (canary)"
grep -rqaF -- "$CANARY" "$WORK/bk-canary" || fail "the canary never reached the backup"
expect 200 "${ADMIN[ville-a]}" POST /api/v1/gdpr/erase "{\"subject\":\"$SUBJECT\"}"
jq -e '.deleted.conversations == 2' "$WORK/resp" >/dev/null || fail "erase: $(cat "$WORK/resp")"
R2=$WORK/restored-canary
"$BIN" restore --from "$WORK/bk-canary" --data "$R2" >"$WORK/restore2.out" 2>&1 ||
    { cat "$WORK/restore2.out" >&2; fail "restore (canary)"; }
grep -q '1 subjects erased again' "$WORK/restore2.out" || fail "replay: $(cat "$WORK/restore2.out")"
hits=$(grep -rlaF -- "$CANARY" "$R2" || true)
[ -z "$hits" ] || fail "the erased canary is back in: $hits"
[ "$(sql "$R2/tenants/ville-a/tenant.db" "SELECT count(*) FROM conversations WHERE subject = '$SUBJECT'")" = 0 ] ||
    fail "the erased subject's conversations are back"
"$BIN" audit verify --data "$R2" --tenant ville-a >/dev/null || fail "audit verify after the replay"
"$BIN" audit verify --data "$R2" >/dev/null || fail "audit verify (operator) after the replay"
"$BIN" audit list --data "$R2" --tenant ville-a --json | jq -se 'map(select(.action == "gdpr.erase" and .actor == "restore")) | length == 1' >/dev/null ||
    fail "the replayed erasure is not in the audit log"
"$BIN" restore --from "$WORK/bk-canary" --data "$WORK/restored-plain" --no-replay >/dev/null 2>&1 ||
    fail "restore --no-replay"
grep -rqaF -- "$CANARY" "$WORK/restored-plain" || fail "control: --no-replay should bring the canary back"
pass "erasure canary: erased after the backup, nowhere in the restored files; audit verify ok"

# ---- damage and refusals ----
cp -a "$WORK/bk-canary" "$WORK/bk-bad"
printf '\x42' | dd of="$WORK/bk-bad/tenants/ville-b/tenant.db" bs=1 seek=3000 conv=notrunc status=none
if "$BIN" backup verify "$WORK/bk-bad" >"$WORK/bad.out" 2>&1; then fail "verify missed a changed byte"; fi
grep -q 'tenants/ville-b/tenant.db' "$WORK/bad.out" || fail "verify did not name the file: $(cat "$WORK/bad.out")"
cp -a "$WORK/bk-canary" "$WORK/bk-missing"
rm "$WORK/bk-missing/tenants/ville-b/tenant.db"
echo stray >"$WORK/bk-missing/stray"
if "$BIN" backup verify "$WORK/bk-missing" >"$WORK/missing.out" 2>&1; then fail "verify missed a missing file"; fi
grep -q 'tenants/ville-b/tenant.db: missing' "$WORK/missing.out" || fail "missing: $(cat "$WORK/missing.out")"
grep -q 'stray: not listed' "$WORK/missing.out" || fail "unlisted: $(cat "$WORK/missing.out")"
# a manifest that is not one: said, not only "does not verify"
cp -a "$WORK/bk-canary" "$WORK/bk-notmanifest"
echo '{"format":"something else"}' >"$WORK/bk-notmanifest/manifest.json"
if "$BIN" backup verify "$WORK/bk-notmanifest" >"$WORK/nm.out" 2>&1; then fail "verify took another manifest"; fi
grep -q 'manifest.json: not a LibreAIr backup manifest' "$WORK/nm.out" || fail "not a manifest: $(cat "$WORK/nm.out")"
if "$BIN" restore --from "$WORK/bk-bad" --data "$WORK/restored-bad" >/dev/null 2>&1; then
    fail "restore took a damaged backup"
fi
[ ! -e "$WORK/restored-bad" ] || fail "a refused restore left files"
if "$BIN" restore --from "$WORK/bk-canary" --data "$WORK/data" >"$WORK/ne.out" 2>&1; then
    fail "restore into a non-empty directory"
fi
grep -q 'not empty' "$WORK/ne.out" || fail "non-empty: $(cat "$WORK/ne.out")"
if "$BIN" backup --data "$WORK/data" --to "$BK" >/dev/null 2>&1; then fail "backup over a backup"; fi
pass "verify names a changed byte, a missing and an unlisted file; restore refuses a damaged backup and a non-empty directory"

# ---- the register says how long backups are kept, and that erasures are replayed ----
expect 200 "${ADMIN[ville-a]}" GET '/api/v1/register?format=md'
grep -q '^| Sauvegardes | .*conservées 30 jours au plus.*rejoués' "$WORK/resp" ||
    fail "register: no backup retention (serve --backup-retention-days 30): $(grep Sauvegardes "$WORK/resp")"
pass "the processing register states the retention of backups"

# ---- the restored directory serves, and finishes the pending jobs ----
kill "$SERVER_PID" && wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
"$BIN" serve --data "$R" --listen 127.0.0.1:0 --model "stories=$STORIES" --slots 1 --ctx 256 --threads 1 \
    >"$WORK/r.out" 2>"$WORK/r.err" &
SERVER_PID=$!
for i in $(seq 1 600); do
    grep -q '^libreair: ready' "$WORK/r.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/r.err" >&2; fail "server on the restored data exited"; }
    sleep 0.1
done
URL=$(sed -n 's/^libreair: listening on \(https\{0,1\}:[^ ]*\)$/\1/p' "$WORK/r.out")
while read -r ms kind id t name; do
    [ "$ms" -lt "$STARTED" ] && [ "$kind" = job ] || continue
    for i in $(seq 1 600); do
        expect 200 "${ADMIN[$t]}" GET "/api/v1/jobs/$id"
        state=$(jq -r .state "$WORK/resp")
        [ "$state" = done ] && break
        [ "$state" = failed ] && fail "job $id failed after the restore: $(cat "$WORK/resp")"
        sleep 0.1
    done
    [ "$state" = done ] || fail "job $id did not finish on the restored data"
    "$BIN" kb documents --data "$R" --tenant "$t" --kb docs >"$WORK/docs.out"
    grep -q "$name" "$WORK/docs.out" || fail "document $name missing"
done < <(cat "$WORK"/writes.*)
pass "the restored data serves (the old keys work) and finishes the jobs pending at the backup"
