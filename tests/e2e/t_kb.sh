#!/usr/bin/env bash
# Knowledge bases through HTTP with curl against the real binary: create and
# validate, multipart uploads as jobs (a broken PDF and an .exe get their own
# errors while the other file is indexed), French search (accents, elision,
# plurals), hostile uploads (path tricks in file names, wrong parts, not
# multipart, over 64 MiB), unchanged re-uploads, roles and tenant isolation,
# deletion that leaves no trace in the database files, the audit events,
# assistants that name a knowledge base, `libreair kb` on folders, and a
# server killed with -9 in the middle of a job that resumes it at restart.
source "$(dirname "$0")/lib.sh"

# batches of 4 files (one transaction each; 256 by default): the job killed
# below spans several, so that the kill lands between two of them
export LIBREAIR_INGEST_BATCH=4
init_data
OP=$KEY
start_server --model "stories=$STORIES" --slots 1 --ctx 256 --threads 1

check() { jq -e "$1" "$WORK/resp" >/dev/null || fail "$2: $(head -c 600 "$WORK/resp")"; }
upload() { # upload KEY KB CURL_F_ARG... -> STATUS, body in $WORK/resp
    local key=$1 kb=$2
    shift 2
    local args=(-sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $key")
    local f
    for f in "$@"; do args+=(-F "$f"); done
    STATUS=$(curl "${args[@]}" "$URL/api/v1/knowledge-bases/$kb/documents")
}
wait_job() { # wait_job KEY ID: polls until the job has ended; its JSON in $WORK/resp
    local i state
    for i in $(seq 1 1200); do
        expect 200 "$1" GET "/api/v1/jobs/$2"
        state=$(jq -r .state "$WORK/resp")
        if [ "$state" = done ] || [ "$state" = failed ]; then return 0; fi
        sleep 0.1
    done
    fail "job $2 did not end: $(cat "$WORK/resp")"
}

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"B"}'
ADMIN_B=$(jq -r .admin_key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
USER=$(jq -r .key "$WORK/resp")

# ---- create and validate ----
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"demarches","name":"Démarches en ligne"}'
check '.slug == "demarches" and .name == "Démarches en ligne" and .documents == 0' "create body"
expect 409 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"demarches"}'
check '.error.param == "slug" and .error.type == "conflict_error"' "409 names the slug"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"Pas Bon"}'
check '.error.param == "slug"' "bad slug"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"x","colour":"red"}'
check '.error.param == "colour" and .error.code == "unknown_field"' "unknown field"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"x","name":"a\u0001b"}'
expect 400 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":'
expect 403 "$USER" POST /api/v1/knowledge-bases '{"slug":"x"}'
expect 403 "$OP" GET /api/v1/knowledge-bases
expect 200 "$EDITOR" GET /api/v1/knowledge-bases
check '.data | length == 1 and .[0].slug == "demarches"' "list"
pass "create 201, duplicate 409, invalid 422, user and operator keys 403"

# ---- upload: one good file, a broken PDF, an executable ----
DOCS=$WORK/docs
mkdir -p "$DOCS"
cat >"$DOCS/ecoles.md" <<'EOF'
# Inscriptions scolaires

L'inscription à l'école maternelle se fait à la mairie, avec le livret de famille
et un justificatif de domicile de moins de trois mois.

# Cantine

Les menus de la restauration scolaire sont publiés chaque lundi.
EOF
printf '%%PDF-1.7\n1 0 obj << /Type /Catalog >> nothing else' >"$DOCS/cassé.pdf"
printf 'MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode.' >"$DOCS/setup.exe"
upload "$EDITOR" demarches "file=@$DOCS/ecoles.md" "file=@$DOCS/cassé.pdf" "file=@$DOCS/setup.exe"
[ "$STATUS" = 202 ] || fail "upload: $STATUS $(cat "$WORK/resp")"
check '.total == 3 and .state == "queued" and (.job_id | type) == "number"' "202 body"
JOB=$(jq -r .job_id "$WORK/resp")
wait_job "$EDITOR" "$JOB"
check '.state == "done" and .done == 3 and .total == 3' "job done"
check '.errors | length == 2' "two errors"
check '[.errors[].file] | sort == ["cassé.pdf", "setup.exe"]' "errors name the files"
check 'all(.errors[]; (.error | length) > 10)' "errors say why"
check '.files[0].name == "ecoles.md" and .files[0].state == "indexed" and (.files[0].document_id | type) == "number"' "good file indexed"
pass "upload 202 {job_id}; broken PDF and .exe fail alone, the Markdown file is indexed"

# ---- French search: accents, elision, plural ----
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"Inscriptions aux ECOLES maternelles ?","top_k":3}'
check '.results | length >= 1' "results"
check '.results[0].document == "ecoles.md" and .results[0].heading == "Inscriptions scolaires" and .results[0].page == null' "best result"
check '.results[0] | has("chunk_id") and has("document_id") and has("score") and (.text | test("livret de famille"))' "result fields"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"l’École","top_k":1}'
check '.results | length == 1 and .[0].document == "ecoles.md"' "elision with a typographic apostrophe"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"menu publié"}'
check '.results[0].heading == "Cantine"' "plural and accent in the other section"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"le la les"}'
check '.results == []' "stop words only"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":""}'
check '.error.param == "query"' "empty query"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"a","top_k":0}'
check '.error.param == "top_k"' "top_k 0"
expect 422 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"a","top_k":51}'
expect 422 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"a","k":3}'
expect 404 "$EDITOR" POST /api/v1/knowledge-bases/nope/search '{"query":"ecole"}'
expect 403 "$USER" POST /api/v1/knowledge-bases/demarches/search '{"query":"ecole"}'
pass "search finds the passage across accents, elision and plurals; strict arguments"

# ---- hostile uploads ----
printf 'x' >"$DOCS/x.txt"
for name in '../../etc/passwd' '/etc/passwd' 'dossier/x.txt' '..' 'C:\\Users\\x.txt'; do
    upload "$EDITOR" demarches "file=@$DOCS/x.txt;filename=$name"
    [ "$STATUS" = 422 ] || fail "file name '$name': $STATUS $(cat "$WORK/resp")"
    check '.error.param == "file" and .error.code == "invalid_file_name"' "file name '$name'"
done
upload "$EDITOR" demarches "file=@$DOCS/x.txt;filename=$(printf 'a\342\200\256fdp.exe')"
[ "$STATUS" = 422 ] || fail "bidi override: $STATUS"
upload "$EDITOR" demarches "document=@$DOCS/x.txt"
[ "$STATUS" = 422 ] || fail "part not named file: $STATUS"
check '.error.param == "document"' "wrong part named"
upload "$EDITOR" demarches "file=texte sans nom de fichier"
[ "$STATUS" = 422 ] || fail "no filename: $STATUS"
upload "$EDITOR" demarches "file=@$DOCS/x.txt;filename=a.txt" "file=@$DOCS/x.txt;filename=a.txt"
[ "$STATUS" = 422 ] || fail "same name twice: $STATUS"
expect 400 "$EDITOR" POST /api/v1/knowledge-bases/demarches/documents '{"file":"x"}'
check '.error.code == "invalid_multipart"' "not multipart"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    -H 'Content-Type: multipart/form-data; boundary=zz' --data-binary $'--zz\r\nContent-Disposition: form-data; name="file"; filename="t.txt"\r\n\r\ncut here' \
    "$URL/api/v1/knowledge-bases/demarches/documents")
[ "$STATUS" = 400 ] || fail "truncated multipart: $STATUS"
upload "$EDITOR" nope "file=@$DOCS/x.txt"
[ "$STATUS" = 404 ] || fail "unknown knowledge base: $STATUS"
upload "$USER" demarches "file=@$DOCS/x.txt"
[ "$STATUS" = 403 ] || fail "user key upload: $STATUS"
truncate -s 65M "$DOCS/big.txt"
upload "$EDITOR" demarches "file=@$DOCS/big.txt"
[ "$STATUS" = 413 ] || fail "65 MiB upload: $STATUS"
rm -f "$DOCS/big.txt"
expect 200 "$EDITOR" GET /api/v1/knowledge-bases/demarches/documents
check '.data | length == 1' "hostile uploads stored nothing"
[ -z "$(ls -A "$WORK/data/tenants/ville-a/kb/demarches/uploads")" ] || fail "uploads left behind"
pass "path tricks and bidi names 422, wrong parts 422, not multipart 400, 64 MiB limit 413"

# ---- unchanged re-upload; another tenant sees nothing ----
upload "$EDITOR" demarches "file=@$DOCS/ecoles.md"
[ "$STATUS" = 202 ] || fail "re-upload: $STATUS"
JOB2=$(jq -r .job_id "$WORK/resp")
wait_job "$EDITOR" "$JOB2"
check '.state == "done" and .files[0].state == "unchanged"' "unchanged re-upload"
expect 200 "$EDITOR" GET /api/v1/knowledge-bases/demarches/documents
check '.data | length == 1 and .[0].name == "ecoles.md" and .[0].format == "markdown" and .[0].chunks >= 2' "documents"
DOC=$(jq -r '.data[0].id' "$WORK/resp")
expect 404 "$ADMIN_B" GET /api/v1/knowledge-bases/demarches
expect 404 "$ADMIN_B" GET /api/v1/knowledge-bases/demarches/documents
expect 404 "$ADMIN_B" POST /api/v1/knowledge-bases/demarches/search '{"query":"ecole"}'
expect 404 "$ADMIN_B" DELETE "/api/v1/knowledge-bases/demarches/documents/$DOC"
expect 404 "$ADMIN_B" GET "/api/v1/jobs/$JOB"
expect 404 "$ADMIN_B" DELETE /api/v1/knowledge-bases/demarches
upload "$ADMIN_B" demarches "file=@$DOCS/ecoles.md"
[ "$STATUS" = 404 ] || fail "upload into another tenant's base: $STATUS"
expect 404 "$EDITOR" GET /api/v1/jobs/999999
expect 404 "$EDITOR" GET /api/v1/jobs/abc
pass "unchanged re-upload does nothing; another tenant gets 404 everywhere"

# ---- assistants may now name the knowledge base ----
expect 201 "$EDITOR" POST /api/v1/assistants '{"slug":"ecoles","name":"Écoles","instructions":"Tu aides.","model":"stories","knowledge_bases":["demarches"]}'
expect 422 "$EDITOR" POST /api/v1/assistants '{"slug":"autre","name":"Autre","instructions":"Tu aides.","model":"stories","knowledge_bases":["nope"]}'
check '.error.param == "knowledge_bases[0]"' "unknown knowledge base named"
expect 422 "$ADMIN_B" POST /api/v1/assistants '{"slug":"ecoles","name":"Écoles","instructions":"Tu aides.","model":"stories","knowledge_bases":["demarches"]}'
pass "assistants accept their tenant's knowledge bases only"

# ---- deletion leaves no trace ----
printf '# Dossier\n\nLe dossier de Monsieur Zorglubovitch est instruit.\n' >"$DOCS/dossier.md"
upload "$EDITOR" demarches "file=@$DOCS/dossier.md"
JOB3=$(jq -r .job_id "$WORK/resp")
wait_job "$EDITOR" "$JOB3"
check '.files[0].state == "indexed"' "canary indexed"
DOC3=$(jq -r '.files[0].document_id' "$WORK/resp")
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"Zorglubovitch"}'
check '.results | length == 1' "canary found"
expect 200 "$EDITOR" DELETE "/api/v1/knowledge-bases/demarches/documents/$DOC3"
check '.deleted == true and .name == "dossier.md"' "delete body"
expect 404 "$EDITOR" DELETE "/api/v1/knowledge-bases/demarches/documents/$DOC3"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/demarches/search '{"query":"Zorglubovitch"}'
check '.results == []' "canary not found"
if cat "$WORK/data/tenants/ville-a/"tenant.db* | grep -a -q -i zorglub; then
    fail "the deleted text is still in the database files"
fi
pass "document delete: gone from search and from the database files' bytes"

# ---- audit ----
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
for ev in 'kb.create:kb:demarches' 'document.upload:document:demarches/ecoles.md' \
    'document.upload:document:demarches/setup.exe' 'document.delete:document:demarches/dossier.md'; do
    action=${ev%%:*}
    target=${ev#*:}
    jq -e --arg a "$action" --arg t "$target" '[.data[] | select(.action == $a and .target == $t)] | length > 0' \
        "$WORK/resp" >/dev/null || fail "no audit event $action $target"
done
pass "audit: kb.create, document.upload, document.delete with names only"

# ---- an upload whose audit events cannot be written is not acknowledged ----
# The document.upload events are written in the job's transaction, so that
# a job never exists without them (a kill -9 between the job's commit and
# the events, written one by one after it, left indexed documents without
# their events). A trigger, added beside the running server, makes the
# tenant's log refuse the event of one file: the upload fails whole, and
# neither a job nor a document appears.
TDB=$WORK/data/tenants/ville-a/tenant.db
sqlite3 -cmd ".timeout 5000" "$TDB" "CREATE TRIGGER test_refuse_event BEFORE INSERT ON audit
    WHEN new.target = 'document:demarches/refus.md' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"
printf '# Refus\n\nUn document dont le journal refuse la trace.\n' >"$DOCS/refus.md"
printf '# Voirie\n\nLes travaux de voirie sont annoncés une semaine avant.\n' >"$DOCS/voirie.md"
upload "$EDITOR" demarches "file=@$DOCS/voirie.md" "file=@$DOCS/refus.md"
UP_STATUS=$STATUS
sqlite3 -cmd ".timeout 5000" "$TDB" "DROP TRIGGER test_refuse_event;"
[ "$UP_STATUS" = 500 ] || fail "an upload whose events cannot be written: got $UP_STATUS, want 500: $(head -c 300 "$WORK/resp")"
[ "$(sqlite3 -cmd ".timeout 5000" "$TDB" "SELECT count(*) FROM job_files WHERE name IN ('voirie.md', 'refus.md')")" = 0 ] ||
    fail "a job was recorded for an upload whose events failed"
upload "$EDITOR" demarches "file=@$DOCS/voirie.md" "file=@$DOCS/refus.md"
[ "$STATUS" = 202 ] || fail "the same upload once the log accepts it: $STATUS"
JOB_R=$(jq -r .job_id "$WORK/resp")
wait_job "$EDITOR" "$JOB_R"
check '.state == "done" and .errors == []' "upload after the refusal"
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
check "[.data[] | select(.action == \"document.upload\" and (.detail | test(\"job:$JOB_R\\\\b\")))] | length == 2" \
    "both events of the job, naming it"
pass "an upload whose audit events fail is refused whole (500, no job); its events name the job"

# ---- the CLI on a folder ----
mkdir -p "$WORK/folder/sous-dossier" "$WORK/folder/.cache"
printf '# Piscine\n\nLa piscine municipale ouvre ses bassins en juin.\n' >"$WORK/folder/piscine.md"
printf 'Le ramassage des encombrants a lieu le premier lundi du mois.\n' >"$WORK/folder/sous-dossier/dechets.txt"
printf 'caché' >"$WORK/folder/.cache/ignore.md"
"$BIN" kb create --data "$WORK/data" --tenant ville-a --name "Services" services >/dev/null || fail "kb create"
"$BIN" kb create --data "$WORK/data" --tenant ville-a services 2>/dev/null && fail "duplicate kb create"
"$BIN" kb ingest --data "$WORK/data" --tenant ville-a --kb services "$WORK/folder" >"$WORK/cli.out" 2>"$WORK/cli.err" ||
    fail "kb ingest: $(cat "$WORK/cli.err")"
grep -q 'done: 2 indexed, 0 unchanged, 0 failed' "$WORK/cli.out" || fail "ingest summary: $(cat "$WORK/cli.out")"
grep -q 'indexed *sous-dossier/dechets.txt' "$WORK/cli.err" || fail "a line per file: $(cat "$WORK/cli.err")"
"$BIN" kb ingest --data "$WORK/data" --tenant ville-a --kb services "$WORK/folder" >"$WORK/cli.out" 2>/dev/null ||
    fail "second ingest"
grep -q '0 indexed, 2 unchanged' "$WORK/cli.out" || fail "second ingest: $(cat "$WORK/cli.out")"
"$BIN" kb ingest --data "$WORK/data" --tenant ville-a --kb services "$DOCS/setup.exe" >/dev/null 2>&1 &&
    fail "a file that fails must fail the command"
"$BIN" kb ingest --data "$WORK/data" --tenant ville-a --kb nope "$WORK/folder" 2>/dev/null && fail "unknown kb"
"$BIN" kb list --data "$WORK/data" --tenant ville-a | grep -q '^services  *2 ' || fail "kb list"
"$BIN" kb search --data "$WORK/data" --tenant ville-a --kb services encombrant | grep -q 'dechets.txt' ||
    fail "kb search"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/services/search '{"query":"bassins de la piscine"}'
check '.results[0].document == "piscine.md"' "the server searches what the CLI indexed"
expect 200 "$EDITOR" GET /api/v1/knowledge-bases/services/documents
check '[.data[].name] | sort == ["piscine.md", "sous-dossier/dechets.txt"]' "CLI documents, hidden folder skipped"
pass "libreair kb create/ingest (folders, unchanged files)/list/search"

# ---- kill -9 in the middle of a job, then resume ----
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"lourde"}'
mkdir -p "$WORK/many"
N=40
args=()
for i in $(seq 1 $N); do
    f="$WORK/many/doc$i.txt"
    for s in $(seq 1 150); do
        printf 'Paragraphe %d du document %d : la commune instruit les demandes de permis de construire, les déclarations préalables et les certificats d’urbanisme, motclef%dx%d.\n\n' "$s" "$i" "$i" "$s"
    done >"$f"
    args+=("file=@$f")
done
upload "$EDITOR" lourde "${args[@]}"
[ "$STATUS" = 202 ] || fail "big upload: $STATUS"
JOB4=$(jq -r .job_id "$WORK/resp")
for i in $(seq 1 600); do
    expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB4"
    [ "$(jq -r .done "$WORK/resp")" -ge 2 ] && break
    sleep 0.05
done
DONE_AT_KILL=$(jq -r .done "$WORK/resp")
kill -9 "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
[ "$DONE_AT_KILL" -ge 2 ] && [ "$DONE_AT_KILL" -lt "$N" ] || fail "the kill did not land in the middle of the job (done $DONE_AT_KILL of $N)"
start_server --model "stories=$STORIES" --slots 1 --ctx 256 --threads 1
wait_job "$EDITOR" "$JOB4"
check ".state == \"done\" and .done == $N and .errors == []" "resumed job"
check "[.files[] | select(.state == \"indexed\")] | length == $N" "every file indexed once"
expect 200 "$EDITOR" GET /api/v1/knowledge-bases/lourde/documents
check "(.data | length == $N) and all(.data[]; .chunks >= 20)" "every document whole"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/lourde/search "{\"query\":\"motclef${N}x150\"}"
check ".results[0].document == \"doc$N.txt\"" "last file searchable"
[ -z "$(ls -A "$WORK/data/tenants/ville-a/kb/lourde/uploads")" ] || fail "uploads left after the job"
pass "kill -9 at $DONE_AT_KILL of $N files: the job resumed after restart and ended done, every document whole"

# ---- delete a knowledge base ----
expect 200 "$EDITOR" DELETE /api/v1/knowledge-bases/lourde
expect 404 "$EDITOR" GET /api/v1/knowledge-bases/lourde
expect 404 "$EDITOR" GET "/api/v1/jobs/$JOB4"
[ -e "$WORK/data/tenants/ville-a/kb/lourde" ] && fail "the knowledge base's folder is left"
expect 200 "$EDITOR" GET /api/v1/knowledge-bases
check '[.data[].slug] | sort == ["demarches", "services"]' "list after delete"
pass "knowledge base delete"

# ---- hybrid search and its vector cache ----
# A server with a generated tiny BERT embedding model stores vectors at
# ingestion and fuses them with BM25 at search. The second search of a base
# takes its vectors from memory (a cache hit in /metrics); a new document
# moves the base's vector generation, so the next search loads the vectors
# again and finds the new document; --vector-cache sets the budget.
if [ -x "$BUILD/gguf-gen" ]; then
    BERT=$WORK/bert.gguf
    LAIR_BUILD=$BUILD "$SRC/scripts/gen-model.sh" tiny-bert "$BERT" -q
    kill "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    start_server --model "embed=$BERT" --threads 1 --vector-cache 3
    vmetric() { curl -fsS "$URL/metrics" | awk -v m="libreair_vector_cache_$1" '$1 == m {print $2}'; }
    [ "$(vmetric budget_bytes)" = $((3 << 20)) ] || fail "vector cache budget: $(vmetric budget_bytes)"
    expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"hybride","name":"Hybride"}'
    printf 'La déchèterie ouvre le samedi matin.\n' >"$WORK/dechets.txt"
    upload "$EDITOR" hybride "file=@$WORK/dechets.txt"
    [ "$STATUS" = 202 ] || fail "hybrid upload: $STATUS $(cat "$WORK/resp")"
    wait_job "$EDITOR" "$(jq -r .job_id "$WORK/resp")"
    check '.state == "done"' "hybrid job"
    [ "$(sqlite3 "$WORK/data/tenants/ville-a/tenant.db" "SELECT count(*) FROM chunks WHERE kb = 'hybride' AND embed_model = 'embed'")" -ge 1 ] ||
        fail "no vectors stored"
    loads0=$(vmetric loads_total) hits0=$(vmetric hits_total)
    for i in 1 2; do
        expect 200 "$EDITOR" POST /api/v1/knowledge-bases/hybride/search '{"query":"horaires de la déchèterie"}'
        check '.results[0].document == "dechets.txt"' "hybrid search $i"
    done
    [ "$(vmetric loads_total)" = $((loads0 + 1)) ] && [ "$(vmetric hits_total)" = $((hits0 + 1)) ] ||
        fail "two searches: loads $loads0 -> $(vmetric loads_total), hits $hits0 -> $(vmetric hits_total)"
    printf 'Le marché couvert est fermé le lundi.\n' >"$WORK/marche.txt"
    upload "$EDITOR" hybride "file=@$WORK/marche.txt"
    wait_job "$EDITOR" "$(jq -r .job_id "$WORK/resp")"
    expect 200 "$EDITOR" POST /api/v1/knowledge-bases/hybride/search '{"query":"marché couvert lundi"}'
    check '.results[0].document == "marche.txt"' "new document found"
    [ "$(vmetric loads_total)" = $((loads0 + 2)) ] || fail "a changed base was not loaded again"
    [ "$(vmetric entries)" = 1 ] || fail "entries: $(vmetric entries)"
    pass "hybrid search: vectors from memory on the second search, loaded again after a new document; budget from --vector-cache"
else
    echo "FAIL: $BUILD/gguf-gen is not built" >&2
    exit 1
fi
