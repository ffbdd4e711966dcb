#!/usr/bin/env bash
# Feedback on answers and the tenant's dashboard (issue 15, item 7) with curl
# against the real binary and stories260K: a key rates an answer of its own
# conversation, not another key's (404, like a conversation that does not
# exist); the widget rates only a conversation it created; bad bodies are
# 422 naming the field; editors list feedback with personal data masked;
# the dashboard counts real chats per assistant and day, and a refused
# question appears among the gaps, grouped with the same question asked in
# other words; erasing the subject removes their feedback, and the GDPR
# export holds it before.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server --model "stories=$STORIES" --slots 1 --ctx 1024 --threads 1

as() {
    local who=$1
    shift
    KEY=$who api "$@" >/dev/null
}
need() { [ "$STATUS" = "$1" ] || { cat "$WORK/resp" >&2; fail "$2: status $STATUS, not $1"; }; }
check() { jq -e "$1" "$WORK/resp" >/dev/null || { cat "$WORK/resp" >&2; fail "$2"; }; }
SITE=http://127.0.0.1:8765
pub() { # pub PATH BODY: the widget's request, from an allowed origin
    STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -X POST -H "Origin: $SITE" \
        -H 'Content-Type: application/json' --data-binary "$2" "$URL$1")
}

as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}'; need 201 "tenant"
ADMIN=$(jq -r .admin_key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"editor"}'; need 201 "editor key"
EDITOR=$(jq -r .key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"user"}'; need 201 "user key"
USER1=$(jq -r .key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"user"}'; need 201 "user key 2"
USER2=$(jq -r .key "$WORK/resp")

# a knowledge base, and an assistant that refuses what it does not cover
as "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"demarches","name":"Démarches"}'
[[ $STATUS == 20? ]] || fail "knowledge base: $STATUS"
printf 'Acte de naissance\n\nL acte de naissance se demande a la mairie du lieu de naissance.\n' \
    >"$WORK/naissance.txt"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
    -F "file=@$WORK/naissance.txt" "$URL/api/v1/knowledge-bases/demarches/documents")
[[ $STATUS == 20? ]] || fail "upload: $STATUS $(cat "$WORK/resp")"
JOB=$(jq -r .job_id "$WORK/resp")
for _ in $(seq 1 600); do
    state=$(KEY=$ADMIN api GET "/api/v1/jobs/$JOB" | jq -r .state)
    [ "$state" = done ] || [ "$state" = failed ] && break
    sleep 0.1
done
[ "$state" = done ] || fail "ingestion: $state"
as "$ADMIN" POST /api/v1/assistants '{"slug":"etat-civil","model":"stories","knowledge_bases":["demarches"],"citations":"required","guardrails":{"refusal":"Je ne sais pas."},"params":{"max_tokens":8}}'
need 201 "grounded assistant"
as "$ADMIN" POST /api/v1/assistants/etat-civil/publish '{}'; need 200 "publish"
as "$ADMIN" POST /api/v1/assistants "{\"slug\":\"guichet\",\"model\":\"stories\",\"visibility\":\"public\",\"allowed_origins\":[\"$SITE\"],\"params\":{\"max_tokens\":8}}"
need 201 "public assistant"
as "$ADMIN" POST /api/v1/assistants/guichet/publish '{}'; need 200 "publish guichet"

chat() { # chat KEY MODEL TEXT [CONV] [USER]: conversation id in CID
    local body
    body=$(jq -cn --arg m "$2" --arg t "$3" --arg c "${4:-}" --arg u "${5:-}" \
        '{model:$m,messages:[{role:"user",content:$t}],max_tokens:8,temperature:0}
         + (if $c != "" then {conversation_id:$c} else {} end) + (if $u != "" then {user:$u} else {} end)')
    as "$1" POST /v1/chat/completions "$body"; need 200 "chat $2"
    CID=$(jq -r .conversation_id "$WORK/resp")
}

# ---- real chats: two answered by a user key, two refused ----
chat "$USER1" guichet "Once upon a time" "" "alice"
C1=$CID
chat "$USER1" guichet "Then" "$C1"
chat "$USER2" guichet "The cat" "" "bob"
C2=$CID
chat "$USER2" etat-civil "Quel est l'horaire de la piscine ?" "" "bob"
check '.answer_mode == "refusal" or (.choices[0].message.content == "Je ne sais pas.")' "refused"
chat "$USER1" etat-civil "quel est l HORAIRE de la piscine" "" "alice"
pass "four chats, two of them refused"

# ---- feedback from a key on its own conversation ----
as "$USER1" POST "/api/v1/conversations/$C1/feedback" \
    '{"rating":"down","comment":"Faux. Rappelez-moi au 06 12 34 56 78 ou jean.dupont@example.fr"}'
need 200 "feedback on its own conversation"
check '.object == "feedback" and .rating == "down" and .message_id > 0 and .has_comment' "feedback shape"
FIRST=$(jq -r .id "$WORK/resp")
as "$USER1" POST "/api/v1/conversations/$C1/feedback" '{"rating":"up"}'; need 200 "again"
[ "$(jq -r .id "$WORK/resp")" = "$FIRST" ] || fail "a second rating of the same answer is a new row"
as "$USER1" POST "/api/v1/conversations/$C1/feedback" \
    '{"rating":"down","comment":"Faux. Rappelez-moi au 06 12 34 56 78 ou jean.dupont@example.fr"}'
need 200 "down again"
# another key's conversation: 404 as if it did not exist, even for an editor
as "$USER2" POST "/api/v1/conversations/$C1/feedback" '{"rating":"up"}'; need 404 "another key's"
check '.error.code == "conversation_not_found"' "another key's: code"
as "$EDITOR" POST "/api/v1/conversations/$C1/feedback" '{"rating":"up"}'; need 404 "editor on another's"
as "$USER1" POST "/api/v1/conversations/conv_zzzzzzzzzzzzzzzzzzzzzzzz/feedback" '{"rating":"up"}'
need 404 "unknown conversation"
pass "a key rates its own conversations only (others 404)"

# ---- strict input ----
bad() { # bad BODY PARAM CODE
    as "$USER1" POST "/api/v1/conversations/$C1/feedback" "$1"; need 422 "$1"
    check ".error.param == \"$2\" and .error.code == \"$3\"" "$1: param $2 code $3"
}
bad '{}' rating missing_field
bad '{"rating":"meh"}' rating invalid_value
bad '{"rating":"up","comment":5}' comment invalid_value
bad "{\"rating\":\"up\",\"comment\":\"$(head -c 2001 /dev/zero | tr '\0' x)\"}" comment invalid_value
bad '{"rating":"up","message_id":"x"}' message_id invalid_value
bad '{"rating":"up","message_id":0}' message_id invalid_value
bad '{"rating":"up","stars":5}' stars unknown_field
as "$USER1" POST "/api/v1/conversations/$C1/feedback" '{"rating":"up","message_id":1}'
need 404 "a question is not an answer"; check '.error.code == "message_not_found"' "message_not_found"
pass "bad bodies are 422 naming the field"

# ---- the widget ----
pub /public/v1/assistants/ville-a.guichet/chat '{"messages":[{"role":"user","content":"Once"}],"stream":false}'
need 200 "widget chat"
WC=$(jq -r .conversation_id "$WORK/resp")
pub /public/v1/assistants/ville-a.guichet/feedback "{\"conversation_id\":\"$WC\",\"rating\":\"up\",\"comment\":\"Merci\"}"
need 200 "widget feedback on its own conversation"
pub /public/v1/assistants/ville-a.guichet/feedback "{\"conversation_id\":\"$C2\",\"rating\":\"down\"}"
need 404 "widget feedback on a key's conversation"
check '.error.code == "conversation_not_found" and .error.param == "conversation_id"' "widget 404 code"
pub /public/v1/assistants/ville-a.guichet/feedback '{"rating":"down"}'
need 422 "widget without conversation"; check '.error.param == "conversation_id"' "param"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -X POST -H "Origin: https://evil.example" \
    -H 'Content-Type: application/json' --data-binary "{\"conversation_id\":\"$WC\",\"rating\":\"down\"}" \
    "$URL/public/v1/assistants/ville-a.guichet/feedback")
need 403 "widget feedback from another origin"
pass "the widget rates only the conversations it created"

# ---- editors list feedback, masked ----
as "$USER1" GET /api/v1/feedback; need 403 "a user key does not list feedback"
as "$EDITOR" GET /api/v1/feedback; need 200 "list"
check '.data | length == 2' "two feedback"
check '.data[] | select(.rating == "down") | .comment | (contains("06 12") or contains("jean.dupont")) | not' \
    "personal data masked"
check '.data[] | select(.rating == "down") | .comment | test("\\[PHONE\\]") and test("\\[EMAIL\\]")' \
    "masks shown"
check '[.data[].assistant] | sort == ["guichet","guichet"]' "assistants"
as "$EDITOR" GET "/api/v1/feedback?rating=up"; need 200 "filter"; check '(.data | length) == 1 and .data[0].key_id == "widget"' "filter up"
as "$EDITOR" GET "/api/v1/feedback?rating=sideways"; need 422 "bad filter"; check '.error.param == "rating"' "filter param"
pass "editors list feedback with personal data masked"

# ---- the dashboard ----
as "$USER1" GET /api/v1/dashboard; need 403 "a user key has no dashboard"
as "$EDITOR" GET "/api/v1/dashboard?days=0"; need 422 "days 0"; check '.error.param == "days"' "days param"
as "$EDITOR" GET "/api/v1/dashboard?days=7"; need 200 "dashboard"
cp "$WORK/resp" "$WORK/dash.json"
check '.days == 7 and (.since | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))' "period"
# guichet: C1 (2 answers), C2 (1), the widget's (1) = 3 conversations, 4 answers
check '.assistants[] | select(.assistant == "guichet") | .conversations == 3 and .answers == 4 and .up == 1 and .down == 1 and .tokens > 0' \
    "guichet totals"
check '.assistants[] | select(.assistant == "etat-civil") | .conversations == 2 and .answers == 2' "etat-civil totals"
check '[.by_day[] | select(.assistant == "guichet") | .tokens] | add > 0' "tokens per day"
check '.gaps.groups | length == 1' "the two refusals are one group"
check '.gaps.groups[0] | .count == 2 and .refused == 2 and .assistants == ["etat-civil"] and .key == "quel est l horaire de la piscine"' \
    "the refused question among the gaps"
pass "the dashboard counts the chats and groups the refused question"

# ---- audit ----
as "$ADMIN" GET "/api/v1/audit?limit=500"; need 200 "audit"
n=$(jq '[.. | objects | select(.action? == "feedback.give")] | length' "$WORK/resp")
[ "$n" -ge 4 ] || fail "feedback.give audited $n times"
jq -e '[.. | objects | select(.action? == "feedback.give") | .detail] | all(test("rating:(up|down)"))' \
    "$WORK/resp" >/dev/null || fail "the audit detail holds the rating only"
grep -q "jean.dupont" "$WORK/resp" && fail "a comment reached the audit log"
pass "feedback is audited"

# ---- GDPR: the export holds the subject's feedback, erasure removes it ----
as "$ADMIN" POST /api/v1/gdpr/export '{"subject":"alice"}'; need 200 "export"
check '[.conversations[].feedback[]] | length == 1 and .[0].rating == "down" and (.[0].comment | contains("jean.dupont"))' \
    "the export holds alice's feedback, as she wrote it"
as "$ADMIN" POST /api/v1/gdpr/erase '{"subject":"alice"}'; need 200 "erase"
as "$EDITOR" GET /api/v1/feedback; need 200 "list after erasure"
check '(.data | length) == 1 and .data[0].key_id == "widget"' "alice's feedback is gone"
as "$EDITOR" GET "/api/v1/dashboard?days=7"
check '[.assistants[] | select(.assistant == "guichet")][0].down == 0' "nor counted"
pass "erasing the subject removes their feedback"

echo "t_feedback: all passed"
