#!/usr/bin/env bash
# Quotas against the real binary and real inference (stories260K): a key's
# requests per minute, a tenant's requests per minute across its keys, a
# key's tokens per day once usage is recorded; 429 with Retry-After and a
# message naming the limit; other keys and tenants unaffected.
# (Per-minute windows are the default 60 s: each burst below takes far less
# than the 1/rpm of a minute that would give a request back.)
source "$(dirname "$0")/lib.sh"

init_data
start_server --model "stories=$STORIES" --slots 2 --ctx 2048 --threads 1
OP=$KEY

# as KEYVAR METHOD PATH [BODY]: api with another key
as() { local k=$1; shift; local save=$KEY; KEY=$k; api "$@"; KEY=$save; }

# tenant SLUG LIMITS_JSON: prints the tenant's admin key
tenant() {
    KEY=$OP api POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$1\",\"name\":\"$1\",\"limits\":$2}" >/dev/null
    [ "$STATUS" = 201 ] || fail "create tenant $1: $STATUS $(cat "$WORK/resp")"
    jq -r .admin_key "$WORK/resp"
}
# key ADMIN_KEY BODY: prints a new key of that admin's tenant
newkey() {
    as "$1" POST /api/v1/keys "$2" >/dev/null
    [ "$STATUS" = 201 ] || fail "create key: $STATUS $(cat "$WORK/resp")"
    jq -r .key "$WORK/resp"
}
key_id() { cut -d_ -f2 <<<"$1"; } # lair_<id>_<secret>
# model ADMIN_KEY: the name tenant keys chat with: a published assistant
# over the model when the assistants API takes one, else the raw model name.
model_for() {
    as "$1" POST /api/v1/assistants '{"slug":"conte","name":"Conte","model":"stories","instructions":"Once upon a time"}' >/dev/null
    if [ "$STATUS" = 201 ] || [ "$STATUS" = 200 ]; then
        as "$1" POST /api/v1/assistants/conte/publish '{}' >/dev/null
        if [ "$STATUS" = 200 ] || [ "$STATUS" = 201 ]; then echo conte; return; fi
    fi
    echo stories
}

# chat KEY [MAX_TOKENS]: one chat request; sets STATUS, headers in $WORK/hdr
chat() {
    local n=${2:-4}
    STATUS=$(curl -sS -o "$WORK/resp" -D "$WORK/hdr" -w '%{http_code}' \
        -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
        --data-binary "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],\"max_tokens\":$n,\"temperature\":0}" \
        "$URL/v1/chat/completions")
}
retry_after() { tr -d '\r' <"$WORK/hdr" | sed -n 's/^[Rr]etry-[Aa]fter: *//p'; }
expect_429() { # MESSAGE MAX_RETRY_AFTER
    [ "$STATUS" = 429 ] || fail "expected 429, got $STATUS: $(cat "$WORK/resp")"
    jq -e --arg m "$1" '.error.message == $m and .error.type == "rate_limit_error"' "$WORK/resp" >/dev/null ||
        fail "429 message: $(cat "$WORK/resp") (wanted '$1')"
    local ra
    ra=$(retry_after)
    [[ $ra =~ ^[0-9]+$ ]] && [ "$ra" -ge 1 ] && [ "$ra" -le "$2" ] || fail "Retry-After '$ra' not in 1..$2"
}

A=$(tenant ville-a '{}')
MODEL=$(model_for "$A")
K3=$(newkey "$A" '{"role":"user","limits":{"rpm":3}}')
FREE=$(newkey "$A" '{"role":"user"}')
for i in 1 2 3; do chat "$K3"; [ "$STATUS" = 200 ] || fail "request $i of 3: $STATUS $(cat "$WORK/resp")"; done
chat "$K3"
expect_429 "rate limit of 3 requests per minute for this key reached" 20
jq -e '.error.code == "rate_limit_exceeded"' "$WORK/resp" >/dev/null || fail "429 code"
for i in 1 2 3 4; do chat "$FREE"; [ "$STATUS" = 200 ] || fail "other key of the tenant: $STATUS"; done
pass "a key's requests per minute: 4th refused with Retry-After; another key still served"

B=$(tenant ville-b '{"rpm":4}')
[ "$(model_for "$B")" = "$MODEL" ] || fail "same model name in both tenants"
B1=$(newkey "$B" '{"role":"user"}')
B2=$(newkey "$B" '{"role":"editor"}')
for k in "$B1" "$B2" "$B1" "$B2"; do chat "$k"; [ "$STATUS" = 200 ] || fail "tenant b under its limit: $STATUS"; done
chat "$B2"
expect_429 "rate limit of 4 requests per minute for tenant ville-b reached" 15
chat "$B1"
expect_429 "rate limit of 4 requests per minute for tenant ville-b reached" 15
chat "$FREE"; [ "$STATUS" = 200 ] || fail "another tenant held back: $STATUS"
pass "a tenant's requests per minute hold across its keys, and only for it"

# tokens per day: served while today's total is under the quota, refused
# from the request after the one that crossed it, until UTC midnight. One
# request's size T is measured first (greedy: every request has the same),
# and the quota set to 2.5 T: exactly 3 requests are served.
chat "$FREE" 8
[ "$STATUS" = 200 ] || fail "probe: $STATUS"
T=$(jq .usage.total_tokens "$WORK/resp")
Q=$((T * 5 / 2))
KT=$(newkey "$A" "{\"role\":\"user\",\"limits\":{\"tokens_per_day\":$Q}}")
used=0 served=0
for i in 1 2 3 4; do
    chat "$KT" 8
    if [ "$used" -lt "$Q" ]; then
        [ "$STATUS" = 200 ] || fail "refused at $used of $Q tokens: $STATUS $(cat "$WORK/resp")"
        used=$((used + $(jq .usage.total_tokens "$WORK/resp")))
        served=$((served + 1))
    else
        midnight=$((86400 - $(date -u +%s) % 86400))
        expect_429 "daily token quota of $Q tokens for this key used up" $((midnight + 5))
        [ "$(retry_after)" -ge $((midnight - 5)) ] || fail "Retry-After is not UTC midnight"
        jq -e '.error.code == "daily_quota_exceeded"' "$WORK/resp" >/dev/null || fail "daily code"
        break
    fi
done
[ "$served" = 3 ] && [ "$STATUS" = 429 ] || fail "served $served requests ($used tokens) of a $Q-token quota; wanted 3 then a 429"
chat "$FREE"; [ "$STATUS" = 200 ] || fail "the daily quota of one key held back another: $STATUS"
pass "a key's tokens per day: $Q-token quota, 3 requests of $T tokens served, then refused until UTC midnight"

# each refusal is in the tenant's audit log, with the key and no content
as "$A" GET "/api/v1/audit?limit=1000" >/dev/null
[ "$STATUS" = 200 ] || fail "audit: $STATUS"
for k in "$K3" "$KT"; do
    jq -e --arg id "$(key_id "$k")" '[.data[] | select(.action == "quota.refused" and .actor == $id
        and .outcome == "429")] | length >= 1' "$WORK/resp" >/dev/null ||
        fail "no quota.refused event for key $(key_id "$k")"
done
grep -q 'Once' "$WORK/resp" && fail "message text in the audit log"
pass "quota refusals are audited"

# a client that leaves before the answer ends is charged for what the model
# did: otherwise a key could read each answer but its last token and never
# use up its daily quota. A key with a 1-token quota starts a long answer and
# leaves after a few chunks (curl | head), streamed and not streamed; the
# server sees the hang-up (status 499 in /metrics, counted once the stream is
# released, after the charge) and the key's next request is refused. Tried up
# to 5 times in case an answer is over before the client leaves.
n499() {
    curl -sS "$URL/metrics" | awk '/^libreair_http_requests_total\{route="chat_completions",method="POST",status="499"\}/ { n = $2 } END { print n + 0 }'
}
LONG="{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Once\"}],\"max_tokens\":100000,\"ignore_eos\":true"
for mode in stream whole; do
    cut_short=0
    for try in 1 2 3 4 5; do
        KL=$(newkey "$A" '{"role":"user","limits":{"tokens_per_day":1}}')
        before=$(n499)
        if [ "$mode" = stream ]; then
            curl -sSN -H "Authorization: Bearer $KL" -H 'Content-Type: application/json' \
                --data-binary "$LONG,\"stream\":true}" "$URL/v1/chat/completions" 2>/dev/null | head -c 300 >/dev/null || true
        else
            curl -sS --max-time 0.05 -o /dev/null -H "Authorization: Bearer $KL" -H 'Content-Type: application/json' \
                --data-binary "$LONG}" "$URL/v1/chat/completions" 2>/dev/null || true
        fi
        for i in $(seq 1 50); do [ "$(n499)" -gt "$before" ] && break; sleep 0.1; done
        if [ "$(n499)" -gt "$before" ]; then cut_short=1; break; fi
    done
    [ "$cut_short" = 1 ] || fail "$mode: no answer was cut short by its client in 5 tries"
    used=$(sqlite3 -cmd '.timeout 5000' "$WORK/data/tenants/ville-a/tenant.db" \
        "SELECT coalesce(sum(tokens), 0) FROM usage_daily WHERE key_id = '$(key_id "$KL")'")
    [ "$used" -ge 1 ] || fail "$mode: an answer left half-read charged $used tokens"
    chat "$KL"
    expect_429 "daily token quota of 1 tokens for this key used up" 86405
    pass "$mode: an answer the client left half-read is charged ($used tokens), and the 1-token quota then refuses"
done

# the operator has no quota
for i in 1 2 3 4 5; do
    STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $OP" \
        -H 'Content-Type: application/json' \
        -d '{"model":"stories","messages":[{"role":"user","content":"Once"}],"max_tokens":2}' \
        "$URL/v1/chat/completions")
    [ "$STATUS" = 200 ] || fail "operator request $i: $STATUS"
done
pass "operator keys have no quota"
