#!/usr/bin/env bash
# Conversations through the real chat endpoint (stories260K): a chat answer
# carries a conversation_id; passing it back continues the conversation (the
# earlier turns are stored and listed in order, with usage); streams are
# recorded too, before their final [DONE]; another key (role user), another
# tenant, another assistant or subject cannot continue, read or delete it
# (404 like an unknown id); listing by subject; deletion.
source "$(dirname "$0")/lib.sh"

init_data
start_server --model "stories=$STORIES" --model "stories2=$STORIES" --slots 2 --ctx 512 --threads 1
OP=$KEY

as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@"; KEY=$save; }
tenant() {
    KEY=$OP api POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$1\",\"name\":\"$1\"}" >/dev/null
    [ "$STATUS" = 201 ] || fail "create tenant $1: $STATUS"
    jq -r .admin_key "$WORK/resp"
}
newkey() {
    as "$1" POST /api/v1/keys "$2" >/dev/null
    [ "$STATUS" = 201 ] || fail "create key: $STATUS $(cat "$WORK/resp")"
    jq -r .key "$WORK/resp"
}
# assistant ADMIN SLUG MODEL: the name to chat with (a published assistant
# when the assistants API takes one, else the raw model name)
assistant() {
    as "$1" POST /api/v1/assistants "{\"slug\":\"$2\",\"model\":\"$3\",\"instructions\":\"Tell a story.\"}" >/dev/null
    if [ "$STATUS" = 201 ] || [ "$STATUS" = 200 ]; then
        as "$1" POST "/api/v1/assistants/$2/publish" '{}' >/dev/null
        if [ "$STATUS" = 200 ] || [ "$STATUS" = 201 ]; then echo "$2"; return; fi
    fi
    echo "$3"
}
# chat KEY MODEL TEXT [EXTRA_JSON]: sets STATUS; the answer in $WORK/resp
chat() {
    local body x=${4:-}
    [ -n "$x" ] || x='{}'
    body=$(jq -cn --arg m "$2" --arg t "$3" --argjson x "$x" \
        '{model:$m,messages:[{role:"user",content:$t}],max_tokens:12,temperature:0} + $x')
    as "$1" POST /v1/chat/completions "$body" >/dev/null
}

A=$(tenant ville-a)
B=$(tenant ville-b)
U1=$(newkey "$A" '{"role":"user"}')
U2=$(newkey "$A" '{"role":"user"}')
M=$(assistant "$A" conte stories)
M2=$(assistant "$A" autre stories2)
assistant "$B" conte stories >/dev/null

chat "$U1" "$M" "Once upon a time" '{"user":"citoyen-1"}'
[ "$STATUS" = 200 ] || fail "chat: $STATUS $(cat "$WORK/resp")"
CID=$(jq -r '.conversation_id // empty' "$WORK/resp")
[[ $CID == conv_* ]] || fail "no conversation_id in the answer: $(cat "$WORK/resp")"
cp "$WORK/resp" "$WORK/answer1"
chat "$U1" "$M" "The little dog" "{\"user\":\"citoyen-1\",\"conversation_id\":\"$CID\"}"
[ "$STATUS" = 200 ] || fail "continue: $STATUS $(cat "$WORK/resp")"
[ "$(jq -r .conversation_id "$WORK/resp")" = "$CID" ] || fail "continuing changed the id"
cp "$WORK/resp" "$WORK/answer2"
prompt2=$(jq '.usage.prompt_tokens' "$WORK/resp")

as "$U1" GET "/api/v1/conversations/$CID" >/dev/null
[ "$STATUS" = 200 ] || fail "get: $STATUS"
jq -e --slurpfile a1 "$WORK/answer1" --slurpfile a2 "$WORK/answer2" --arg m "$M" '
    .assistant == $m and .subject == "citoyen-1" and (.messages | length) == 4 and
    ([.messages[].role] == ["user","assistant","user","assistant"]) and
    .messages[0].content == "Once upon a time" and
    .messages[1].content == $a1[0].choices[0].message.content and
    .messages[2].content == "The little dog" and
    .messages[3].content == $a2[0].choices[0].message.content' "$WORK/resp" >/dev/null ||
    fail "stored conversation: $(cat "$WORK/resp")"
jq -e --slurpfile a1 "$WORK/answer1" --slurpfile a2 "$WORK/answer2" '
    .messages[1].usage == $a1[0].usage and .messages[3].usage == $a2[0].usage' \
    "$WORK/resp" >/dev/null || fail "usage not stored with the answers"
pass "conversation_id returned, continued, stored in order with usage"

# the earlier turns reach the model: the continued prompt is longer than the
# same question asked afresh
chat "$U1" "$M" "The little dog"
fresh=$(jq '.usage.prompt_tokens' "$WORK/resp")
[ "$prompt2" -gt "$fresh" ] || fail "continued prompt ($prompt2 tokens) not longer than a fresh one ($fresh)"
pass "the earlier messages are in the continued prompt"

# streams: conversation_id in the chunks, recorded before [DONE]
curl -sS -N -H "Authorization: Bearer $U1" -H 'Content-Type: application/json' \
    -d "{\"model\":\"$M\",\"stream\":true,\"max_tokens\":8,\"temperature\":0,\"conversation_id\":\"$CID\",\"messages\":[{\"role\":\"user\",\"content\":\"Then\"}]}" \
    "$URL/v1/chat/completions" >"$WORK/sse"
tail -n2 "$WORK/sse" | grep -q '^data: \[DONE\]' || fail "stream did not end with [DONE]"
sed -n 's/^data: //p' "$WORK/sse" | grep -v '^\[DONE\]' >"$WORK/chunks"
jq -se --arg c "$CID" 'map(select(.conversation_id == $c)) | length > 0' "$WORK/chunks" >/dev/null ||
    fail "no conversation_id in the stream"
jq -s '[.[].choices[0].delta.content // empty] | join("")' "$WORK/chunks" >"$WORK/streamed"
as "$U1" GET "/api/v1/conversations/$CID" >/dev/null
jq -e --slurpfile s "$WORK/streamed" '(.messages | length) == 6 and .messages[4].content == "Then" and
    .messages[5].content == $s[0]' "$WORK/resp" >/dev/null || fail "stream not recorded: $(cat "$WORK/resp")"
pass "a streamed exchange is recorded"

# who may not continue, read or delete it: all answer like an unknown id
chat "$U1" "$M" "x" '{"conversation_id":"conv_000000000000000000000000"}'
[ "$STATUS" = 404 ] || fail "unknown id: $STATUS"
jq -c '.error' "$WORK/resp" >"$WORK/ref404"
jq -e '.code == "conversation_not_found" and .param == "conversation_id"' "$WORK/ref404" >/dev/null ||
    fail "404 shape: $(cat "$WORK/ref404")"
for who in "U2:$M:" "B:$M:" "U1:$M2:" "U1:$M:citoyen-2"; do
    IFS=: read -r k m s <<<"$who"
    extra=$(jq -cn --arg c "$CID" --arg s "$s" '{conversation_id:$c} + (if $s == "" then {} else {user:$s} end)')
    chat "${!k}" "$m" "x" "$extra"
    [ "$STATUS" = 404 ] || fail "$who continued another's conversation: $STATUS"
    [ "$(jq -c .error "$WORK/resp")" = "$(cat "$WORK/ref404")" ] || fail "$who: a different 404"
done
for k in U2 B; do
    as "${!k}" GET "/api/v1/conversations/$CID" >/dev/null; [ "$STATUS" = 404 ] || fail "$k read it: $STATUS"
    as "${!k}" DELETE "/api/v1/conversations/$CID" >/dev/null; [ "$STATUS" = 404 ] || fail "$k deleted it: $STATUS"
done
as "$OP" GET "/api/v1/conversations/$CID" >/dev/null; [ "$STATUS" = 403 ] || fail "operator read it: $STATUS"
as "$A" GET "/api/v1/conversations/$CID" >/dev/null; [ "$STATUS" = 200 ] || fail "tenant admin: $STATUS"
pass "another key, tenant, assistant or subject: 404 like an unknown id"

# listing
as "$A" GET "/api/v1/conversations?subject=citoyen-1" >/dev/null
jq -e --arg c "$CID" '[.data[].id] == [$c]' "$WORK/resp" >/dev/null || fail "list by subject: $(cat "$WORK/resp")"
as "$U2" GET /api/v1/conversations >/dev/null
jq -e '.data == []' "$WORK/resp" >/dev/null || fail "a user key lists another's: $(cat "$WORK/resp")"
as "$B" GET /api/v1/conversations >/dev/null
jq -e '.data == []' "$WORK/resp" >/dev/null || fail "another tenant lists it"
as "$U1" GET "/api/v1/conversations?limit=1" >/dev/null
jq -e '(.data | length) == 1 and .has_more == true' "$WORK/resp" >/dev/null || fail "pagination"
pass "listing by subject, per key, per tenant, paginated"

# deletion: gone, and cannot be continued
as "$U1" DELETE "/api/v1/conversations/$CID" >/dev/null
[ "$STATUS" = 200 ] || fail "delete: $STATUS"
as "$U1" GET "/api/v1/conversations/$CID" >/dev/null; [ "$STATUS" = 404 ] || fail "still there: $STATUS"
chat "$U1" "$M" "x" "{\"conversation_id\":\"$CID\"}"
[ "$STATUS" = 404 ] || fail "a deleted conversation continued: $STATUS"
pass "deleted conversations are gone"
