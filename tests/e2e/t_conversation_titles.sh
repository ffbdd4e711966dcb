#!/usr/bin/env bash
# The chat page's conversation API (docs/api.md, "Conversations"): a new
# conversation is titled from its first question (trimmed to 60 characters,
# at a word, with "…"); PATCH renames it (1 to 200 bytes on one line, strict
# body, audited, another key's answers 404); ?q= searches titles and
# messages of the caller's own conversations only (LIKE wildcards literal);
# DELETE .../last-exchange takes back the last question and its answer for
# a regenerate; DELETE removes it. /v1/models carries welcome and starters.
source "$(dirname "$0")/lib.sh"

init_data
start_server --model "stories=$STORIES" --slots 2 --ctx 512 --threads 1
OP=$KEY

as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@"; KEY=$save; }
KEY=$OP api POST /api/v1/tenants '{"admin_key":true,"slug":"ville-t","name":"Ville T"}' >/dev/null
[ "$STATUS" = 201 ] || fail "tenant: $STATUS"
A=$(jq -r .admin_key "$WORK/resp")
newkey() {
    as "$A" POST /api/v1/keys '{"role":"user"}' >/dev/null
    [ "$STATUS" = 201 ] || fail "key: $STATUS"
    jq -r .key "$WORK/resp"
}
U1=$(newkey)
U2=$(newkey)
as "$A" POST /api/v1/assistants '{"slug":"conte","model":"stories","instructions":"Tell a story.",
  "welcome":"Bonjour !","starters":["Once upon a time","A dog"]}' >/dev/null
[ "$STATUS" = 201 ] || fail "assistant: $STATUS $(cat "$WORK/resp")"
as "$A" POST /api/v1/assistants/conte/publish '{}' >/dev/null
[ "$STATUS" = 200 ] || fail "publish: $STATUS"

as "$U1" GET /v1/models >/dev/null
jq -e '.data[] | select(.id == "conte") | .welcome == "Bonjour !" and .starters == ["Once upon a time","A dog"]' \
    "$WORK/resp" >/dev/null || fail "welcome and starters in /v1/models: $(cat "$WORK/resp")"
pass "/v1/models carries the published welcome text and starters"

# chat KEY TEXT [EXTRA_JSON]: the answer in $WORK/resp
chat() {
    local x=${3:-}
    [ -n "$x" ] || x='{}'
    as "$1" POST /v1/chat/completions "$(jq -cn --arg t "$2" --argjson x "$x" \
        '{model:"conte",messages:[{role:"user",content:$t}],max_tokens:6,temperature:0} + $x')" >/dev/null
    [ "$STATUS" = 200 ] || fail "chat: $STATUS $(cat "$WORK/resp")"
}

LONG=$'  Comment   obtenir un acte de naissance\n pour mon fils né à Lyon en 2019 quand on habite ailleurs ?  '
chat "$U1" "$LONG"
C1=$(jq -r .conversation_id "$WORK/resp")
chat "$U1" "The cat sat on 100% of the mat" "{\"conversation_id\":\"$C1\"}"
chat "$U1" "Un chien et un chat"
C2=$(jq -r .conversation_id "$WORK/resp")
chat "$U2" "Le chat de la voisine"
C3=$(jq -r .conversation_id "$WORK/resp")

as "$U1" GET "/api/v1/conversations/$C1" >/dev/null
T=$(jq -r .title "$WORK/resp")
[ "$T" = "Comment obtenir un acte de naissance pour mon fils né à…" ] || fail "title: '$T'"
as "$U1" GET /api/v1/conversations >/dev/null
jq -e --arg c "$C2" '.data[] | select(.id == $c) | .title == "Un chien et un chat"' "$WORK/resp" >/dev/null ||
    fail "short title in the list: $(cat "$WORK/resp")"
pass "titled from the first question: blanks collapsed, cut at a word with an ellipsis"

# rename: validation first, nothing changed by a refused request
for body in '{}' '{"title":""}' '{"title":"   "}' '{"title":42}' '{"title":"a\nb"}' \
    "{\"title\":\"$(head -c 201 /dev/zero | tr '\0' x)\"}" '{"title":"ok","assistant":"x"}' 'nope'; do
    as "$U1" PATCH "/api/v1/conversations/$C1" "$body" >/dev/null
    case "$STATUS" in 400 | 422) ;; *) fail "PATCH $body: $STATUS" ;; esac
    jq -e '.error.code | type == "string"' "$WORK/resp" >/dev/null || fail "no code for $body"
done
as "$U1" PATCH "/api/v1/conversations/$C1" '{"title":""}' >/dev/null
jq -e '.error.code == "invalid_title" and .error.param == "title"' "$WORK/resp" >/dev/null ||
    fail "empty title: $(cat "$WORK/resp")"
as "$U1" PATCH "/api/v1/conversations/$C1" '{"title":"x","other":1}' >/dev/null
jq -e '.error.code == "unknown_field"' "$WORK/resp" >/dev/null || fail "unknown field: $(cat "$WORK/resp")"
as "$U1" GET "/api/v1/conversations/$C1" >/dev/null
[ "$(jq -r .title "$WORK/resp")" = "$T" ] || fail "a refused PATCH changed the title"
TITLE200=$(head -c 199 /dev/zero | tr '\0' y)é
as "$U1" PATCH "/api/v1/conversations/$C1" "{\"title\":\"$TITLE200\"}" >/dev/null
[ "$STATUS" = 422 ] || fail "201 bytes (199 + é) accepted: $STATUS"
as "$U2" PATCH "/api/v1/conversations/$C1" '{"title":"pris"}' >/dev/null
[ "$STATUS" = 404 ] || fail "another user key renamed it: $STATUS"
as "$U1" PATCH "/api/v1/conversations/conv_000000000000000000000000" '{"title":"x"}' >/dev/null
[ "$STATUS" = 404 ] || fail "unknown id: $STATUS"
as "$U1" PATCH "/api/v1/conversations/$C1" '{"title":"  Acte de naissance (Lyon)  "}' >/dev/null
[ "$STATUS" = 200 ] || fail "rename: $STATUS $(cat "$WORK/resp")"
jq -e '.title == "Acte de naissance (Lyon)" and .message_count == 4' "$WORK/resp" >/dev/null ||
    fail "rename answer: $(cat "$WORK/resp")"
as "$U1" GET "/api/v1/conversations/$C1" >/dev/null
[ "$(jq -r .title "$WORK/resp")" = "Acte de naissance (Lyon)" ] || fail "rename not stored"
as "$A" GET "/api/v1/audit?limit=100" >/dev/null
jq -e --arg t "conversation:$C1" '[.data[] | select(.action == "conversation.rename" and .target == $t
    and .outcome == "ok")] | length == 1' "$WORK/resp" >/dev/null || fail "rename not audited: $(cat "$WORK/resp")"
! grep -q 'Acte de naissance' "$WORK/resp" || fail "the title is in the audit log"
pass "PATCH title: validated (422 invalid_title, unknown_field), 404 for another key, trimmed, audited"

# search: titles and messages, own conversations only
search() { as "$1" GET "/api/v1/conversations?q=$(jq -rn --arg q "$2" '$q|@uri')" >/dev/null
    [ "$STATUS" = 200 ] || fail "search $2: $STATUS"; jq -c '[.data[].id]' "$WORK/resp"; }
[ "$(search "$U1" "lyon")" = "[\"$C1\"]" ] || fail "search in titles (any case): $(cat "$WORK/resp")"
[ "$(search "$U1" "SAT ON")" = "[\"$C1\"]" ] || fail "search in messages: $(cat "$WORK/resp")"
[ "$(search "$U1" "chat")" = "[\"$C2\"]" ] || fail "search in titles: $(cat "$WORK/resp")"
[ "$(search "$U1" "voisine")" = "[]" ] || fail "U1 found U2's conversation"
[ "$(search "$U2" "chat")" = "[\"$C3\"]" ] || fail "U2's search: $(cat "$WORK/resp")"
[ "$(search "$A" "voisine")" = "[]" ] || fail "the admin's search found a user's conversation"
[ "$(search "$U1" "100%")" = "[\"$C1\"]" ] || fail "100%: $(cat "$WORK/resp")"
[ "$(search "$U1" "1_0")" = "[]" ] || fail "'_' is a wildcard"
[ "$(search "$U1" "%")" = "[\"$C1\"]" ] || fail "'%' is a wildcard: $(cat "$WORK/resp")"
as "$U1" GET "/api/v1/conversations?q=$(head -c 201 /dev/zero | tr '\0' q)" >/dev/null
[ "$STATUS" = 422 ] && jq -e '.error.param == "q"' "$WORK/resp" >/dev/null || fail "long q: $STATUS"
as "$A" GET "/api/v1/conversations?mine=true" >/dev/null
jq -e '.data == []' "$WORK/resp" >/dev/null || fail "mine=true for the admin: $(cat "$WORK/resp")"
as "$A" GET "/api/v1/conversations?mine=maybe" >/dev/null
[ "$STATUS" = 422 ] || fail "mine=maybe: $STATUS"
pass "search: titles and messages, literal wildcards, the caller's own only (admin included)"

# take back the last exchange (regenerate)
as "$U2" DELETE "/api/v1/conversations/$C1/last-exchange" >/dev/null
[ "$STATUS" = 404 ] || fail "another key took back an exchange: $STATUS"
as "$U1" DELETE "/api/v1/conversations/$C1/last-exchange" >/dev/null
[ "$STATUS" = 200 ] || fail "last-exchange: $STATUS $(cat "$WORK/resp")"
jq -e '.question == "The cat sat on 100% of the mat" and .deleted == true' "$WORK/resp" >/dev/null ||
    fail "last-exchange answer: $(cat "$WORK/resp")"
as "$U1" GET "/api/v1/conversations/$C1" >/dev/null
jq -e '(.messages | length) == 2 and .title == "Acte de naissance (Lyon)"' "$WORK/resp" >/dev/null ||
    fail "after last-exchange: $(cat "$WORK/resp")"
chat "$U1" "The cat sat on 100% of the mat" "{\"conversation_id\":\"$C1\"}"
as "$U1" GET "/api/v1/conversations/$C1" >/dev/null
jq -e '(.messages | length) == 4' "$WORK/resp" >/dev/null || fail "asked again: $(cat "$WORK/resp")"
as "$U1" DELETE "/api/v1/conversations/$C2/last-exchange" >/dev/null
as "$U1" DELETE "/api/v1/conversations/$C2/last-exchange" >/dev/null
[ "$STATUS" = 409 ] && jq -e '.error.code == "conversation_empty"' "$WORK/resp" >/dev/null ||
    fail "empty conversation: $STATUS $(cat "$WORK/resp")"
pass "last-exchange: taken back and asked again; 409 conversation_empty; 404 for another key"

# delete
as "$U2" DELETE "/api/v1/conversations/$C1" >/dev/null
[ "$STATUS" = 404 ] || fail "another key deleted it: $STATUS"
as "$U1" DELETE "/api/v1/conversations/$C1" >/dev/null
[ "$STATUS" = 200 ] || fail "delete: $STATUS"
[ "$(search "$U1" "lyon")" = "[]" ] || fail "a deleted conversation is still found"
pass "deleted: gone from the search too"
