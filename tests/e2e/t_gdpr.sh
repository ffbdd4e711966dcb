#!/usr/bin/env bash
# The GDPR lifecycle against the real binary (stories260K), with the canary
# test: a unique string is planted through the real chat endpoint (in the
# messages and as the subject id), then erased or purged, and every file
# under the data directory and the server's logs are searched for it: zero
# hits. Covers: export before (the planted data) and after (empty) erasure,
# idempotent erasure, unknown subjects, bad input and roles; the PII policy
# of stored text (mask, pseudonymise with the admin's reveal); erasure and
# export by the CLI while the server runs; retention by `gdpr purge` and by
# the server's background job (the purge clock moved with the test-only
# LIBREAIR_GDPR_TEST_NOW); tenant deletion; document deletion when the
# knowledge-base API is routed; the processing register in its three forms;
# the audit chain afterwards.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
SERVE_ARGS=(--model "stories=$STORIES" --slots 1 --ctx 256 --threads 1)
start_server "${SERVE_ARGS[@]}"

as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@"; KEY=$save; }
expect() { # expect STATUS KEY METHOD PATH [BODY]
    local want=$1
    shift
    as "$@" >/dev/null
    [ "$STATUS" = "$want" ] || fail "$2 $3: got $STATUS, want $want: $(head -c 400 "$WORK/resp")"
}
# check [JQ_ARGS...] FILTER WHAT: the last response passes the jq filter
check() {
    local what=${!#}
    jq -e "${@:1:$#-1}" "$WORK/resp" >/dev/null || fail "$what: $(head -c 800 "$WORK/resp")"
}
canary() { echo "CANARY$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }
# no_trace STRING WHAT: no file under the data directory, and no server log,
# holds STRING
no_trace() {
    local hits
    hits=$(grep -rlaF -- "$1" "$WORK/data" "$WORK"/server*.out "$WORK"/server*.err 2>/dev/null || true)
    [ -z "$hits" ] || fail "$2: '$1' is still in: $hits"
}
# has_trace STRING WHAT: the planting worked (so that no_trace can fail)
has_trace() {
    grep -rqaF -- "$1" "$WORK/data" || fail "$2: '$1' was never stored"
}
assistant() { # assistant ADMIN SLUG PII RETENTION_DAYS
    expect 201 "$1" POST /api/v1/assistants "{\"slug\":\"$2\",\"model\":\"stories\",\"instructions\":\"Tell a story. Be kind.\",\"guardrails\":{\"pii\":\"$3\"},\"retention_days\":$4}"
    expect 200 "$1" POST "/api/v1/assistants/$2/publish" '{}'
}
chat() { # chat KEY ASSISTANT SUBJECT TEXT [STREAM]: the conversation id in $CID
    local body
    body=$(jq -cn --arg m "$2" --arg u "$3" --arg t "$4" --argjson s "${5:-false}" \
        '{model:$m,user:$u,messages:[{role:"user",content:$t}],max_tokens:8,temperature:0,stream:$s}')
    as "$1" POST /v1/chat/completions "$body" >/dev/null
    [ "$STATUS" = 200 ] || fail "chat: $STATUS $(head -c 300 "$WORK/resp")"
    if [ "${5:-false}" = true ]; then
        CID=$(sed -n 's/^data: //p' "$WORK/resp" | head -n1 | jq -r '.conversation_id // empty')
        grep -q '^data: \[DONE\]' "$WORK/resp" || fail "stream did not end"
    else
        CID=$(jq -r '.conversation_id // empty' "$WORK/resp")
    fi
    [[ $CID == conv_* ]] || fail "no conversation id: $(head -c 300 "$WORK/resp")"
}
export_subject() { # export_subject KEY SUBJECT: the document in $WORK/resp
    expect 200 "$1" POST /api/v1/gdpr/export "$(jq -cn --arg s "$2" '{subject:$s}')"
}
erase_subject() {
    expect 200 "$1" POST /api/v1/gdpr/erase "$(jq -cn --arg s "$2" '{subject:$s}')"
}

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"Ville A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
USER=$(jq -r .key "$WORK/resp")
assistant "$ADMIN" conte keep 1
assistant "$ADMIN" masque mask 0
assistant "$ADMIN" pseudo pseudonymise 0

# ---- plant, export, erase through the API ----
C1=$(canary)
SUBJECT="citoyen-$(canary)"
chat "$USER" conte "$SUBJECT" "Once upon a time $C1"
CONV1=$CID
chat "$USER" conte "$SUBJECT" "The dog said $C1" true
CONV2=$CID
chat "$USER" conte "someone-else" "The cat"
OTHER=$CID
expect 200 "$ADMIN" GET "/api/v1/conversations/$CONV2"
check '.messages | length == 2' "a stream is recorded"
has_trace "$C1" "chat"
has_trace "$SUBJECT" "chat"

export_subject "$ADMIN" "$SUBJECT"
check '.object == "gdpr.export" and (.conversations | length) == 2' "export"
jq -e --arg c "$C1" --arg a "$CONV1" --arg b "$CONV2" '
    ([.conversations[].id] | sort) == ([$a, $b] | sort) and
    ([.conversations[].messages[] | select(.role == "user") | .content | contains($c)] | all) and
    (.usage.messages == 4) and (.usage.completion_tokens > 0)' \
    "$WORK/resp" >/dev/null || fail "export content: $(head -c 800 "$WORK/resp")"
TOKEN=$(jq -r .subject_token "$WORK/resp")
[[ $TOKEN == sh_* ]] || fail "subject token: $TOKEN"
pass "export returns the subject's conversations, messages and usage"

expect 403 "$EDITOR" POST /api/v1/gdpr/export "{\"subject\":\"$SUBJECT\"}"
expect 403 "$USER" POST /api/v1/gdpr/erase "{\"subject\":\"$SUBJECT\"}"
expect 403 "$OP" POST /api/v1/gdpr/erase "{\"subject\":\"$SUBJECT\"}"
expect 401 "" POST /api/v1/gdpr/export "{\"subject\":\"$SUBJECT\"}"
expect 422 "$ADMIN" POST /api/v1/gdpr/erase '{}'
check '.error.param == "subject"' "missing subject"
expect 422 "$ADMIN" POST /api/v1/gdpr/erase '{"subject":""}'
expect 422 "$ADMIN" POST /api/v1/gdpr/erase '{"subject":12}'
expect 422 "$ADMIN" POST /api/v1/gdpr/export "{\"subject\":\"x\",\"all\":true}"
check '.error.param == "all" and .error.code == "unknown_field"' "unknown field"
expect 400 "$ADMIN" POST /api/v1/gdpr/erase '{"subject":'
pass "roles and bad input refused, nothing erased"
has_trace "$C1" "refused requests"

erase_subject "$ADMIN" "$SUBJECT"
check --arg t "$TOKEN" '.object == "gdpr.erasure" and .subject_token == $t and
    .deleted.conversations == 2 and .deleted.messages == 4 and .scrubbed == true' "erase"
no_trace "$C1" "erasure through the API"
no_trace "$SUBJECT" "erasure through the API (the subject id)"
expect 404 "$ADMIN" GET "/api/v1/conversations/$CONV1"
expect 200 "$ADMIN" GET "/api/v1/conversations/$OTHER"
export_subject "$ADMIN" "$SUBJECT"
check --arg t "subject:$TOKEN" '(.conversations | length) == 0 and .usage.messages == 0 and
    ([.audit[].action] | index("gdpr.erase")) != null and
    ([.audit[].action] | index("gdpr.export")) != null and
    ([.audit[].target] | unique) == [$t]' "export after erasure"
erase_subject "$ADMIN" "$SUBJECT"
check '.deleted.conversations == 0 and .deleted.messages == 0' "erasing twice"
export_subject "$ADMIN" "nobody-ever"
check '(.conversations | length) == 0 and (.audit | length) == 0' "unknown subject"
erase_subject "$ADMIN" "nobody-ever"
check '.deleted.conversations == 0' "erasing an unknown subject"
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
check --arg t "subject:$TOKEN" '[.data[] | select(.action == "gdpr.erase" and .target == $t)] | length == 2' \
    "two erasures audited"
pass "erasure: gone from every file and log, audited by token, idempotent; export empty after"

# ---- what is stored follows the assistant's PII policy ----
PHONE="06 12 34 56 78"
chat "$USER" masque "pii-1" "Call me at $PHONE please"
expect 200 "$ADMIN" GET "/api/v1/conversations/$CID"
check '.messages[0].content == "Call me at [PHONE] please"' "mask policy"
IBAN="FR76 3000 6000 0112 3456 7890 189"
chat "$USER" pseudo "pii-2" "My IBAN is $IBAN, yes $IBAN"
PCONV=$CID
expect 200 "$ADMIN" GET "/api/v1/conversations/$PCONV"
check '.messages[0].content == "My IBAN is [IBAN_1], yes [IBAN_1]"' "pseudonymise policy"
no_trace "$PHONE" "mask policy"
no_trace "$IBAN" "pseudonymise policy (as typed)"
expect 200 "$ADMIN" GET "/api/v1/conversations/$PCONV/pseudonyms"
check '.data == [{"placeholder":"[IBAN_1]","type":"iban","value":"FR7630006000011234567890189"}]' \
    "reveal"
expect 403 "$EDITOR" GET "/api/v1/conversations/$PCONV/pseudonyms"
expect 404 "$ADMIN" GET "/api/v1/conversations/conv_000000000000000000000000/pseudonyms"
export_subject "$ADMIN" "pii-2"
check '.conversations[0].pseudonyms[0].placeholder == "[IBAN_1]"' "pseudonyms in the export"
erase_subject "$ADMIN" "pii-2"
check '.deleted.pseudonyms == 1' "pseudonyms erased with the subject"
no_trace "FR7630006000011234567890189" "erasure of pseudonyms"
pass "mask and pseudonymise decide what is stored; the admin reveals; erasure removes the mapping"

# ---- the CLI, while the server runs ----
C2=$(canary)
S2="agent-$(canary)"
chat "$USER" conte "$S2" "Hello $C2"
has_trace "$C2" "chat"
"$BIN" gdpr export --data "$WORK/data" --tenant ville-a --subject "$S2" >"$WORK/export.json" ||
    fail "gdpr export failed"
jq -e --arg c "$C2" '(.conversations | length) == 1 and
    (.conversations[0].messages[0].content | contains($c))' "$WORK/export.json" >/dev/null ||
    fail "CLI export: $(head -c 500 "$WORK/export.json")"
rm -f "$WORK/export.json"
"$BIN" gdpr erase --data "$WORK/data" --tenant ville-a --subject "$S2" >"$WORK/erase.out" ||
    fail "gdpr erase failed"
grep -q '^erased: 1 conversations, 2 messages' "$WORK/erase.out" || fail "CLI erase: $(cat "$WORK/erase.out")"
no_trace "$C2" "CLI erasure"
no_trace "$S2" "CLI erasure (the subject id)"
set +e
"$BIN" gdpr erase --data "$WORK/data" --tenant nope --subject x 2>/dev/null
[ $? = 1 ] || fail "unknown tenant: want status 1"
"$BIN" gdpr erase --data "$WORK/data" --tenant ville-a 2>/dev/null
[ $? = 2 ] || fail "missing --subject: want status 2"
set -e
pass "gdpr export and erase from the CLI"

# ---- retention: gdpr purge on demand ----
C3=$(canary)
chat "$USER" conte "s3" "Retention $C3"
R3=$CID
chat "$USER" masque "s4" "Kept forever"
KEEP=$CID
has_trace "$C3" "chat"
"$BIN" gdpr purge --data "$WORK/data" >"$WORK/purge.out" || fail "purge failed"
grep -q '^ville-a: 0 conversations' "$WORK/purge.out" || fail "purge deleted fresh data: $(cat "$WORK/purge.out")"
LIBREAIR_GDPR_TEST_NOW=$(($(date +%s) + 2 * 86400)) "$BIN" gdpr purge --data "$WORK/data" \
    >"$WORK/purge.out" || fail "purge failed"
grep -q '^ville-a: [1-9][0-9]* conversations' "$WORK/purge.out" || fail "purge: $(cat "$WORK/purge.out")"
expect 404 "$ADMIN" GET "/api/v1/conversations/$R3"
expect 200 "$ADMIN" GET "/api/v1/conversations/$KEEP"
no_trace "$C3" "retention purge"
pass "gdpr purge deletes what is past its assistant's retention, nothing else"

# ---- a conversation deleted through its own API is scrubbed by the next run ----
C7=$(canary)
chat "$USER" masque "s7" "Deleted $C7"
expect 200 "$ADMIN" DELETE "/api/v1/conversations/$CID"
"$BIN" gdpr purge --data "$WORK/data" >"$WORK/purge.out" || fail "purge failed"
grep -q '^ville-a: .*database scrubbed' "$WORK/purge.out" || fail "no scrub: $(cat "$WORK/purge.out")"
no_trace "$C7" "conversation deletion, after the next purge run"
pass "a deleted conversation leaves no trace after the next purge run"

# ---- retention: the server's background job ----
C4=$(canary)
chat "$USER" conte "s5" "Background $C4"
R4=$CID
has_trace "$C4" "chat"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
LIBREAIR_PURGE_INTERVAL=1 LIBREAIR_GDPR_TEST_NOW=$(($(date +%s) + 2 * 86400)) \
    start_server "${SERVE_ARGS[@]}"
for i in $(seq 1 100); do
    as "$ADMIN" GET "/api/v1/conversations/$R4" >/dev/null
    [ "$STATUS" = 404 ] && break
    sleep 0.1
done
[ "$STATUS" = 404 ] || fail "the background purge did not delete $R4"
expect 200 "$ADMIN" GET "/api/v1/conversations/$KEEP"
no_trace "$C4" "background purge"
grep -q 'gdpr: retention: tenant ville-a: 1 conversations' "$WORK/server.err" ||
    fail "purge not logged: $(cat "$WORK/server.err")"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
start_server "${SERVE_ARGS[@]}"
pass "the server purges in the background"

# ---- knowledge-base documents, when the API is routed ----
as "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Docs"}' >/dev/null
if [ "$STATUS" = 201 ]; then
    C5=$(canary)
    printf 'Horaires de la mairie.\n\nLe secret est %s, au guichet.\n' "$C5" >"$WORK/secret.txt"
    printf 'Autre document sans secret.\n' >"$WORK/other.txt"
    curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
        -F "file=@$WORK/secret.txt" -F "file=@$WORK/other.txt" \
        "$URL/api/v1/knowledge-bases/docs/documents" >"$WORK/status"
    [ "$(cat "$WORK/status")" = 202 ] || [ "$(cat "$WORK/status")" = 201 ] ||
        [ "$(cat "$WORK/status")" = 200 ] || fail "upload: $(cat "$WORK/status") $(cat "$WORK/resp")"
    JOB=$(jq -r .job_id "$WORK/resp")
    for i in $(seq 1 300); do
        as "$ADMIN" GET "/api/v1/jobs/$JOB" >/dev/null
        state=$(jq -r .state "$WORK/resp")
        [ "$state" = done ] || [ "$state" = failed ] && break
        sleep 0.1
    done
    [ "$state" = done ] || fail "ingestion: $(cat "$WORK/resp")"
    rm -f "$WORK/secret.txt" "$WORK/other.txt"
    has_trace "$C5" "ingestion"
    expect 200 "$ADMIN" GET /api/v1/knowledge-bases/docs/documents
    DOC=$(jq -r '.data[] | select(.name == "secret.txt") | .id' "$WORK/resp")
    expect 200 "$ADMIN" DELETE "/api/v1/knowledge-bases/docs/documents/$DOC"
    no_trace "$C5" "document deletion"
    pass "document deletion leaves no trace"
else
    echo "skip - knowledge-base API not routed on this build ($STATUS): document deletion untested here"
fi

# ---- tenant deletion ----
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"Ville B"}'
ADMIN_B=$(jq -r .admin_key "$WORK/resp")
assistant "$ADMIN_B" conte keep 0
C6=$(canary)
chat "$ADMIN_B" conte "b-$C6" "Tenant $C6"
has_trace "$C6" "chat"
expect 200 "$OP" DELETE /api/v1/tenants/ville-b
no_trace "$C6" "tenant deletion"
[ ! -e "$WORK/data/tenants/ville-b" ] || fail "tenant directory left"
pass "tenant deletion leaves no trace"

# ---- the processing register ----
expect 200 "$ADMIN" GET /api/v1/register
check '.object == "register" and .controller.tenant == "ville-a" and .controller.name == "Ville A"
    and ([.processings[].assistant] == ["conte","masque","pseudo"])
    and (.processings[0].purpose.text == "Tell a story.")
    and (.processings[0].retention.days == 1) and (.processings[1].retention.source == "none")
    and (.processings[1].pii_policy == "mask") and (.processings[0].recipients == [])
    and (.processings[0].security_measures | length) > 3' "register"
expect 200 "$ADMIN" GET "/api/v1/register?format=md"
grep -q '^# Registre des traitements — Ville A' "$WORK/resp" || fail "register md: $(head -c 300 "$WORK/resp")"
grep -q '^| Finalité | Tell a story. |' "$WORK/resp" || fail "register md purpose"
expect 200 "$ADMIN" GET "/api/v1/register?format=html"
grep -q '<h1>Registre des traitements — Ville A</h1>' "$WORK/resp" || fail "register html"
expect 422 "$ADMIN" GET "/api/v1/register?format=pdf"
expect 403 "$EDITOR" GET /api/v1/register
expect 403 "$OP" GET /api/v1/register
pass "processing register in JSON, Markdown and HTML"

# ---- the audit chain holds, with no subject in clear ----
expect 200 "$ADMIN" GET /api/v1/audit/verify
check '.ok == true' "audit chain"
"$BIN" audit verify --data "$WORK/data" --tenant ville-a >/dev/null || fail "audit verify (CLI)"
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
grep -qaF -- "$SUBJECT" "$WORK/resp" && fail "a subject id in the audit log"
for c in "$C1" "$C2" "$C3" "$C4" "$C6" "$C7" "$SUBJECT" "$S2" "$PHONE" "$IBAN"; do
    no_trace "$c" "at the end"
done
pass "audit chain intact; no canary anywhere at the end"
