#!/usr/bin/env bash
# A tenant's live settings (issue 16, item 5) against the real binary and
# real inference (stories260K served under two names): the operator changes
# limits, retention and allowed models with PATCH /api/v1/tenants/{slug} and
# with `libreair tenant set` while the server runs; the very next request
# obeys (no cache delay); a shorter retention purges at once; every change
# is audited in the operator's log and in the tenant's; bad input changes
# nothing; the tenant reads its own limits and usage (GET /api/v1/usage).
source "$(dirname "$0")/lib.sh"

init_data
# The purge clock runs ten days ahead (LIBREAIR_GDPR_TEST_NOW, for tests
# only): today's conversations are ten days old to the retention purge.
LIBREAIR_GDPR_TEST_NOW=$(($(date +%s) + 10 * 86400))
export LIBREAIR_GDPR_TEST_NOW
start_server --model "stories=$STORIES" --model "stories2=$STORIES" --slots 2 --ctx 1024 \
    --threads 1 --tenant-raw-models
OP=$KEY
as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@" >/dev/null; KEY=$save; }
expect() { # STATUS WHAT
    [ "$STATUS" = "$1" ] || fail "$2: wanted $1, got $STATUS: $(cat "$WORK/resp")"
}
chat() { # KEY MODEL
    STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' \
        --data-binary "{\"model\":\"$2\",\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],\"max_tokens\":4,\"temperature\":0}" \
        "$URL/v1/chat/completions")
}
settings() { as "$OP" GET /api/v1/tenants; jq -c '.data[] | select(.slug == "ville") | del(.created_at)' "$WORK/resp"; }

as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
expect 201 "create tenant"
ADMIN=$(jq -r .admin_key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"user"}'
expect 201 "user key"
USER=$(jq -r .key "$WORK/resp")
as "$ADMIN" POST /api/v1/assistants '{"slug":"conte","name":"Conte","model":"stories","instructions":"Once upon a time"}'
expect 201 "assistant"
as "$ADMIN" POST /api/v1/assistants/conte/publish '{}'
expect 200 "publish"
chat "$USER" conte
expect 200 "chat before any limit"

# ---- limits through the API: the next request obeys ----
as "$OP" PATCH /api/v1/tenants/ville '{"limits":{"rpm":2}}'
expect 200 "PATCH rpm"
jq -e '.limits.rpm == 2 and .limits.tokens_per_day == 0 and .allowed_models == null' "$WORK/resp" >/dev/null ||
    fail "PATCH answer: $(cat "$WORK/resp")"
chat "$USER" conte; expect 200 "1st of 2"
chat "$USER" conte; expect 200 "2nd of 2"
chat "$USER" conte; expect 429 "3rd request under rpm 2"
jq -e '.error.message == "rate limit of 2 requests per minute for tenant ville reached"' "$WORK/resp" >/dev/null ||
    fail "429 message: $(cat "$WORK/resp")"
as "$OP" PATCH /api/v1/tenants/ville '{"limits":{"rpm":0}}'
expect 200 "PATCH rpm 0"
chat "$USER" conte; expect 200 "served at once after the limit is lifted"
pass "PATCH limits: rpm 2 refuses the 3rd request, rpm 0 serves the next one at once"

# ---- limits through the CLI while the server runs ----
"$BIN" tenant set ville --tokens-per-day 1 --data "$WORK/data" >"$WORK/cli.out" || fail "tenant set"
grep -q '^tokens_per_day  1$' "$WORK/cli.out" || fail "tenant set output: $(cat "$WORK/cli.out")"
chat "$USER" conte; expect 429 "the next request after the CLI set a daily quota already used"
jq -e '.error.code == "daily_quota_exceeded"' "$WORK/resp" >/dev/null || fail "daily 429: $(cat "$WORK/resp")"
"$BIN" tenant set ville --tokens-per-day 0 --data "$WORK/data" >/dev/null || fail "tenant set 0"
chat "$USER" conte; expect 200 "the next request after the CLI lifted the quota"
pass "libreair tenant set while serving: the server's next request obeys, both ways"

# ---- allowed models ----
# withdrawing the model of a published assistant is refused, naming it,
# until forced; nothing changes meanwhile
as "$OP" PATCH /api/v1/tenants/ville '{"allowed_models":["stories2"]}'
expect 409 "PATCH withdrawing the model of a published assistant"
jq -e '.error.code == "in_use" and .error.assistants == ["conte"]' "$WORK/resp" >/dev/null ||
    fail "409 names the assistant: $(cat "$WORK/resp")"
chat "$USER" conte; expect 200 "still served after the refused change"
"$BIN" tenant set ville --allowed-models stories2 --data "$WORK/data" 2>"$WORK/cli.err" &&
    fail "tenant set withdrawing a used model without --force"
grep -q "conte" "$WORK/cli.err" || fail "tenant set names the assistant: $(cat "$WORK/cli.err")"
as "$OP" PATCH '/api/v1/tenants/ville?force=true' '{"allowed_models":["stories2"]}'
expect 200 "PATCH allowed_models"
jq -e '.allowed_models == ["stories2"]' "$WORK/resp" >/dev/null || fail "allowed_models: $(cat "$WORK/resp")"
chat "$USER" conte; expect 403 "assistant on a model no longer allowed"
jq -e '.error.code == "model_not_allowed"' "$WORK/resp" >/dev/null || fail "403 code: $(cat "$WORK/resp")"
chat "$USER" stories; expect 404 "raw model not allowed"
chat "$USER" stories2; expect 200 "raw model allowed"
as "$USER" GET /v1/models
jq -e '[.data[].id] | index("stories2") != null and index("stories") == null' "$WORK/resp" >/dev/null ||
    fail "/v1/models lists only allowed raw models: $(cat "$WORK/resp")"
as "$ADMIN" GET /api/v1/assistant-models
jq -e '[.data[].id] == ["stories2"]' "$WORK/resp" >/dev/null ||
    fail "the console's model choice lists only allowed models: $(cat "$WORK/resp")"
as "$USER" GET /api/v1/assistant-models
expect 403 "a user key does not edit assistants"
as "$ADMIN" PUT /api/v1/assistants/conte '{"slug":"conte","name":"Conte","model":"stories","instructions":"x"}'
expect 422 "assistant on a model not allowed"
jq -e '.error.param == "model"' "$WORK/resp" >/dev/null || fail "422 param: $(cat "$WORK/resp")"
"$BIN" tenant set ville --allowed-models '*' --data "$WORK/data" >/dev/null || fail "tenant set models"
chat "$USER" conte; expect 200 "assistant again once every model is allowed (CLI)"
"$BIN" tenant set ville --allowed-models '' --force --data "$WORK/data" >/dev/null || fail "tenant set --force"
chat "$USER" conte; expect 403 "no model allowed (CLI, forced)"
"$BIN" tenant set ville --allowed-models '*' --data "$WORK/data" >/dev/null || fail "tenant set models"
as "$OP" PATCH '/api/v1/tenants/ville?force=true' '{"allowed_models":[]}'
expect 200 "no model"
chat "$USER" conte; expect 403 "no model allowed"
as "$OP" PATCH /api/v1/tenants/ville '{"allowed_models":null}'
chat "$USER" conte; expect 200 "null: every model"
pass "allowed models: withdrawing a used model 409 until forced; assistants 403, raw models 404 and unlisted, assistant edits 422, then restored"

# ---- bad input changes nothing ----
before=$(settings)
for body in '{"limits":{"rpm":-1}}' '{"limits":{"retention_days":99999}}' '{"limits":{"rpm":null}}' \
    '{"limits":{"burst":3}}' '{"limits":[]}' '{"colour":"red"}' '{}' '{"name":""}' \
    '{"allowed_models":["nope"]}' '{"allowed_models":"stories"}' '{"allowed_models":[1]}' \
    '{"limits":{"rpm":5},"allowed_models":["nope"]}' '[1]' 'not json'; do
    as "$OP" PATCH /api/v1/tenants/ville "$body"
    case $STATUS in 400 | 422) ;; *) fail "PATCH $body: wanted 400/422, got $STATUS: $(cat "$WORK/resp")" ;; esac
done
as "$OP" PATCH /api/v1/tenants/nowhere '{"limits":{"rpm":1}}'
expect 404 "unknown tenant"
as "$ADMIN" PATCH /api/v1/tenants/ville '{"limits":{"rpm":1}}'
expect 403 "a tenant's admin cannot change its own limits"
[ "$(settings)" = "$before" ] || fail "bad input changed the tenant: $before -> $(settings)"
for bad in "--rpm -1" "--retention-days 4000" "--allowed-models a,,b" "--rpm x" ""; do
    # shellcheck disable=SC2086
    if "$BIN" tenant set ville $bad --data "$WORK/data" >/dev/null 2>&1; then fail "tenant set $bad accepted"; fi
done
if "$BIN" tenant set nowhere --rpm 1 --data "$WORK/data" >/dev/null 2>&1; then fail "unknown tenant accepted"; fi
[ "$(settings)" = "$before" ] || fail "bad CLI input changed the tenant"
pass "14 bad bodies, an unknown tenant, a tenant's own admin and 6 bad CLI calls change nothing"

# ---- the tenant's own view ----
as "$USER" GET /api/v1/usage
expect 200 "usage (user key)"
jq -e '.tenant == "ville" and .limits.rpm == 0 and .allowed_models == null and .today.requests >= 8
       and .key.today.requests >= 8 and .key.today.tokens > 0 and (has("days") | not)' "$WORK/resp" >/dev/null ||
    fail "usage for a user key: $(cat "$WORK/resp")"
as "$ADMIN" GET /api/v1/usage
jq -e '(.days | length) == 1 and .days[0].requests == .today.requests and .key.today.requests == 0' "$WORK/resp" >/dev/null ||
    fail "usage for the admin: $(cat "$WORK/resp")"
as "$OP" GET /api/v1/usage
expect 400 "usage is per tenant"
"$BIN" tenant show ville --data "$WORK/data" >"$WORK/show.out" || fail "tenant show"
grep -q '^allowed_models  \* (every model)$' "$WORK/show.out" || fail "tenant show: $(cat "$WORK/show.out")"
pass "GET /api/v1/usage: limits, allowed models, today's usage of key and tenant, 31 days for the admin"

# ---- retention: a shorter one purges at once ----
as "$ADMIN" GET /api/v1/conversations
n=$(jq '.data | length' "$WORK/resp")
[ "$n" -ge 1 ] || fail "no conversation to purge: $(cat "$WORK/resp")"
as "$OP" PATCH /api/v1/tenants/ville '{"limits":{"retention_days":5}}'
expect 200 "retention 5 days"
jq -e --argjson n "$n" '.limits.retention_days == 5 and .purged.conversations == $n' "$WORK/resp" >/dev/null ||
    fail "purged at once: $(cat "$WORK/resp") (had $n)"
as "$ADMIN" GET /api/v1/conversations
jq -e '.data | length == 0' "$WORK/resp" >/dev/null || fail "conversations left: $(cat "$WORK/resp")"
pass "retention 5 days: the $n ten-day-old conversations deleted before the answer"

# ---- audit: both logs, chains intact ----
as "$OP" GET /api/v1/audit
jq -e '[.data[] | select(.action == "tenant.update" and .target == "tenant:ville" and .outcome == "ok")] | length == 11' "$WORK/resp" >/dev/null ||
    fail "operator's log: $(jq -c '[.data[] | select(.action == "tenant.update")]' "$WORK/resp")"
jq -e '[.data[] | select(.action == "tenant.update") | .detail] | any(test("rpm:2")) and any(test("allowed_models:stories2"))' "$WORK/resp" >/dev/null ||
    fail "operator's log details: $(cat "$WORK/resp")"
jq -e '[.data[] | select(.action == "tenant.update" and .outcome == "denied")] | length >= 1' "$WORK/resp" >/dev/null ||
    fail "the refused withdrawal is in the operator's log: $(cat "$WORK/resp")"
as "$ADMIN" GET /api/v1/audit
jq -e '[.data[] | select(.action == "tenant.update")] | length == 11 and
       (map(.actor) | any(startswith("operator:")) and any(. == "cli"))' "$WORK/resp" >/dev/null ||
    fail "tenant's log: $(jq -c '[.data[] | select(.action == "tenant.update")]' "$WORK/resp")"
as "$ADMIN" GET /api/v1/audit/verify
jq -e .ok "$WORK/resp" >/dev/null || fail "tenant chain: $(cat "$WORK/resp")"
as "$OP" GET /api/v1/audit/verify
jq -e .ok "$WORK/resp" >/dev/null || fail "operator chain: $(cat "$WORK/resp")"
pass "every change in the operator's log and in the tenant's (operator key and cli), chains verify"
