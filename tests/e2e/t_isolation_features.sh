#!/usr/bin/env bash
# What this stop added that organisations share a server for — the spelling
# suggester's vocabulary, synonyms, feedback, the dashboard, GDPR lookups,
# evaluation runs, draft chats — tried by tenant B against tenant A, as an
# attacker with B's admin key would: nothing of A's is reached, counted or
# suggested. A's knowledge base holds a rare word ("zygomorphe"); B searches
# a misspelling of it and must get no correction towards it.
source "$(dirname "$0")/lib.sh"

init_data
start_server --model "stories=$STORIES" --slots 2 --ctx 1024 --threads 1
OP=$KEY
as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@" >/dev/null; KEY=$save; }
need() { [ "$STATUS" = "$1" ] || fail "$2: wanted $1, got $STATUS: $(cat "$WORK/resp")"; }
as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}'; need 201 "tenant A"
A=$(jq -r .admin_key "$WORK/resp")
as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"B"}'; need 201 "tenant B"
B=$(jq -r .admin_key "$WORK/resp")

kb() { # KEY SLUG FILE TEXT
    as "$1" POST /api/v1/knowledge-bases "{\"slug\":\"$2\"}"
    printf '%s\n' "$4" >"$WORK/$3"
    curl -sS -o "$WORK/resp" -H "Authorization: Bearer $1" -F "file=@$WORK/$3" \
        "$URL/api/v1/knowledge-bases/$2/documents" >/dev/null
    local job; job=$(jq -r .job_id "$WORK/resp")
    for _ in $(seq 1 200); do
        KEY=$1 api GET "/api/v1/jobs/$job" | jq -e '.state == "done"' >/dev/null && return 0
        sleep 0.1
    done
    fail "ingestion in $2"
}
kb "$A" docs a1.txt "La fleur zygomorphe pousse dans le jardin botanique de la mairie, semée par anticipation."
kb "$A" docs2 a2.txt "La déchetterie ouvre le samedi."
kb "$B" docs b1.txt "La cantine scolaire ouvre à midi."
kb "$B" docs2 b2.txt "La piscine ferme le lundi."

# ---- the suggester learns from each tenant's own index only ----
as "$A" POST /api/v1/knowledge-bases/docs/search '{"query":"fleur zygomorfe","explain":true}'; need 200 "A search"
jq -e '[.results[].matches[]? | select(.as == "corrected")] | length >= 1' "$WORK/resp" >/dev/null ||
    fail "A's own misspelling is corrected (the control): $(cat "$WORK/resp")"
as "$B" POST /api/v1/knowledge-bases/docs/search '{"query":"zygomorfe","explain":true}'; need 200 "B search"
jq -e '(.results | length) == 0' "$WORK/resp" >/dev/null || fail "B found something for A's word: $(cat "$WORK/resp")"
grep -q zygomorphe "$WORK/resp" && fail "B's search answer names A's word"
# the typed word's variants (a typo in the ending) look in the tenant's own vocabulary too
as "$A" POST /api/v1/knowledge-bases/docs/search '{"query":"anticipaion","explain":true}'; need 200 "A search"
jq -e '[.results[].matches[]? | select(.as == "corrected" and .matched == "anticipation")] | length == 1' "$WORK/resp" >/dev/null ||
    fail "A's own typo in an ending is corrected (the control): $(cat "$WORK/resp")"
as "$B" POST /api/v1/knowledge-bases/docs/search '{"query":"anticipaion","explain":true}'; need 200 "B search"
jq -e '(.results | length) == 0' "$WORK/resp" >/dev/null || fail "B found something for A's word: $(cat "$WORK/resp")"
pass "the spelling suggester corrects towards a tenant's own words only (term neighbours and typed-word variants)"

# ---- synonyms, dashboards, feedback, GDPR lookups, evaluations: B reaches none of A's ----
as "$A" PUT /api/v1/knowledge-bases/docs/synonyms '{"synonyms":[["zygomorphe","fleur rare"]]}'
as "$B" GET /api/v1/knowledge-bases/docs/synonyms; need 200 "B's own base of the same name"
grep -q zygomorphe "$WORK/resp" && fail "B reads A's synonyms"
as "$A" POST /api/v1/assistants '{"slug":"guide","name":"Guide","model":"stories","instructions":"Tu guides.","knowledge_bases":["docs"]}'
as "$A" POST /api/v1/assistants/guide/publish '{}'; need 200 "publish"
as "$A" POST /v1/chat/completions '{"model":"guide","max_tokens":4,"user":"habitant-a","messages":[{"role":"user","content":"Où pousse la fleur zygomorphe ?"}]}'
need 200 "A chat"
CONV=$(jq -r .conversation_id "$WORK/resp")
as "$A" POST "/api/v1/conversations/$CONV/feedback" '{"rating":"down","comment":"secret de A"}'
[[ $STATUS == 20? ]] || fail "A feedback: $STATUS $(cat "$WORK/resp")"
as "$B" POST "/api/v1/conversations/$CONV/feedback" '{"rating":"up"}'; need 404 "B rates A's conversation"
as "$B" GET "/api/v1/conversations/$CONV"; need 404 "B reads A's conversation"
as "$B" POST /api/v1/gdpr/find "{\"q\":\"$CONV\"}"; need 404 "B looks up A's conversation"
as "$B" POST /api/v1/gdpr/find '{"q":"habitant-a"}'; need 200 "B looks up A's subject id"
jq -e '.conversations == 0 and .messages == 0' "$WORK/resp" >/dev/null || fail "B counts A's person: $(cat "$WORK/resp")"
as "$B" GET /api/v1/feedback; need 200 "B's feedback list"
grep -q "secret de A" "$WORK/resp" && fail "B reads A's feedback"
as "$B" GET "/api/v1/dashboard?days=30"; need 200 "B's dashboard"
grep -q '"guide"\|zygomorphe' "$WORK/resp" && fail "B's dashboard shows A's assistant or questions"
as "$B" GET /api/v1/assistants/guide/eval-runs; need 404 "B lists A's runs"
as "$B" POST /v1/chat/completions '{"model":"guide","assistant_version":"draft","max_tokens":4,"messages":[{"role":"user","content":"x"}]}'
need 404 "B chats with A's draft"
as "$B" POST /api/v1/assistants/generate '{"knowledge_bases":["docs"]}'
grep -q zygomorphe "$WORK/resp" && fail "B's generated draft draws on A's documents"
pass "synonyms, feedback, GDPR lookups, dashboards, evaluation runs, drafts and the generator stay within each tenant"
