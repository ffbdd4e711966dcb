#!/usr/bin/env bash
# Batched ingestion through HTTP (src/rag/ingest.h: a job's files are
# committed a batch at a time, in one transaction):
#   - one upload whose files include a broken PDF and an executable: the
#     other files of the batch are indexed and searchable, and the job
#     reports an error for each bad file, naming it;
#   - a server killed with -9 while it ingests uploads of many files, round
#     after round: every document that the API listed before the kill (so
#     committed: acknowledged) is still there after the restart, whole and
#     searchable, no file is listed that is not, PRAGMA integrity_check is
#     ok, and the jobs resume to the end with every file indexed.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server

# call, expect: lib.sh
check() { jq -e "$1" "$WORK/resp" >/dev/null || fail "$2: $(head -c 600 "$WORK/resp")"; }
upload_dir() { # upload_dir KB DIR -> the job id on stdout (every .md/.pdf/.exe of DIR, one request)
    local args=(-sS -o "$WORK/up" -w '%{http_code}' -H "Authorization: Bearer $ADMIN") f st
    for f in "$2"/*; do args+=(-F "file=@$f"); done
    st=$(curl "${args[@]}" "$URL/api/v1/knowledge-bases/$1/documents")
    [ "$st" = 202 ] || fail "upload of $2: $st $(head -c 300 "$WORK/up")"
    jq -r .job_id "$WORK/up"
}
wait_job() { # wait_job ID: polls until the job has ended; its JSON in $WORK/resp
    local i state
    for i in $(seq 1 1200); do
        expect 200 "$ADMIN" GET "/api/v1/jobs/$1"
        state=$(jq -r .state "$WORK/resp")
        if [ "$state" = done ] || [ "$state" = failed ]; then return 0; fi
        sleep 0.1
    done
    fail "job $1 did not end: $(cat "$WORK/resp")"
}
# a word that only document n has
word() { printf 'k%05dz' "$1"; }
best() { # best KB QUESTION -> the first result's document name, or ""
    expect 200 "$ADMIN" POST "/api/v1/knowledge-bases/$1/search" "{\"query\":\"$2\",\"top_k\":1}"
    jq -r '.results[0].document // ""' "$WORK/resp"
}

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
TDB=$WORK/data/tenants/ville/tenant.db

# ---- one batch, two bad files ----
expect 201 "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"lot","name":"Lot"}'
D=$WORK/lot
mkdir -p "$D"
printf '# Piscine\n\nLa piscine municipale ouvre le samedi matin.\n' >"$D/a.md"
printf '%%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage' >"$D/broken.pdf"
printf '# Marché\n\nLe marché couvert accueille les producteurs locaux.\n' >"$D/b.md"
printf 'MZ\x90\x00\x03\x00\x00\x00This program cannot be run in DOS mode.' >"$D/setup.exe"
printf '# Bibliothèque\n\nLa bibliothèque prête des liseuses numériques.\n' >"$D/c.md"
JOB=$(upload_dir lot "$D")
wait_job "$JOB"
check '.state == "done" and .done == 5 and .total == 5' "the batch's job ends done"
check '[.errors[].file] | sort == ["broken.pdf", "setup.exe"]' "one error per bad file"
check '[.errors[] | .error | length > 10] | all' "each error says why"
expect 200 "$ADMIN" GET /api/v1/knowledge-bases/lot/documents
check '[.data[].name] | sort == ["a.md", "b.md", "c.md"]' "the good files are indexed"
[ "$(best lot piscines)" = a.md ] || fail "a.md is not found"
[ "$(best lot producteurs)" = b.md ] || fail "b.md is not found"
[ "$(best lot liseuses)" = c.md ] || fail "c.md is not found"
[ -z "$(ls -A "$WORK/data/tenants/ville/kb/lot/uploads")" ] || fail "uploads left behind"
pass "a batch with a broken PDF and an executable indexes the others and reports both"

# ---- kill -9 while batches are ingested ----
expect 201 "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Docs"}'
ROUNDS=3 PER_ROUND=1 FILES=250
# files of some 50 kB (a dozen chunks each): a round's upload is more than
# one batch (INGEST_BATCH_BYTES) and takes seconds to index, so that the
# kill lands in the middle of it
FILLER=$(for i in $(seq 1 600); do
    printf 'La commune instruit la demande %d dans un délai de deux mois après réception. ' "$i"
done)
N=0
JOBS=()
mid=0
for round in $(seq 1 $ROUNDS); do
    for r in $(seq 1 $PER_ROUND); do
        d=$WORK/up-$round-$r
        mkdir -p "$d"
        for _ in $(seq 1 $FILES); do
            printf '# Fiche %d\n\nCette fiche traite du sujet %s.\n\n%s\n' \
                "$N" "$(word $N)" "$FILLER" >"$d/$(printf 'f%05d.md' $N)"
            N=$((N + 1))
        done
        JOBS+=("$(upload_dir docs "$d")")
    done
    # the documents listed (committed) while the jobs run, then the kill,
    # a moment later (in a batch's transaction, or between two)
    for _ in $(seq 1 2000); do
        expect 200 "$ADMIN" GET /api/v1/knowledge-bases/docs/documents
        listed=$(jq '.data | length' "$WORK/resp")
        if [ "$listed" -gt $(((round - 1) * PER_ROUND * FILES)) ]; then break; fi
        sleep 0.01
    done
    jq -r '.data[] | "\(.name) \(.chunks)"' "$WORK/resp" | sort >"$WORK/acked"
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    kill -9 "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
    acked=$(wc -l <"$WORK/acked")
    [ "$acked" -lt "$N" ] && mid=$((mid + 1))
    [ "$(sqlite3 -readonly "$TDB" 'PRAGMA integrity_check')" = ok ] || fail "round $round: integrity"
    start_server
    expect 200 "$ADMIN" GET /api/v1/knowledge-bases/docs/documents
    jq -r '.data[] | "\(.name) \(.chunks)"' "$WORK/resp" | sort >"$WORK/now"
    # every acknowledged document survived, whole (same chunks)
    missing=$(comm -23 "$WORK/acked" "$WORK/now" | head -3)
    [ -z "$missing" ] || fail "round $round: acknowledged documents lost after kill -9: $missing"
    awk '$2 < 1 { print; bad = 1 } END { exit bad }' "$WORK/now" >/dev/null ||
        fail "round $round: a document without chunks is visible"
    # the last one acknowledged is searchable
    last=$(tail -n1 "$WORK/acked" | cut -d' ' -f1)
    if [ -n "$last" ]; then
        n=$((10#${last:1:5}))
        [ "$(best docs "$(word $n)")" = "$last" ] || fail "round $round: $last is not found"
    fi
    echo "  round $round: $acked of $N files acknowledged at the kill, all there after it"
done
for j in "${JOBS[@]}"; do
    wait_job "$j"
    check '.state == "done" and .done == .total and (.errors | length) == 0' "job $j resumed to its end"
done
expect 200 "$ADMIN" GET /api/v1/knowledge-bases/docs/documents
check ".data | length == $N" "every file indexed at the end"
for n in 0 $((N / 2)) $((N - 1)); do
    name=$(printf 'f%05d.md' $n)
    [ "$(best docs "$(word $n)")" = "$name" ] || fail "$name is not found at the end"
done
[ "$(sqlite3 -readonly "$TDB" 'PRAGMA integrity_check')" = ok ] || fail "integrity at the end"
[ -z "$(ls -A "$WORK/data/tenants/ville/kb/docs/uploads")" ] || fail "uploads left behind"
pass "kill -9 during batched ingestion ($ROUNDS rounds, $mid in the middle of a job): nothing acknowledged lost"
