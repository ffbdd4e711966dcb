#!/usr/bin/env bash
# Keys against the real server and CLI: a lifetime (expires_in, --expires)
# or a limit too large to add to a time is refused with the field named,
# never stored as a key that expired in the past; the last usable admin key
# of a tenant (and the last operator key) cannot be revoked, through the API
# or the CLI, not even by two admins revoking each other at the same time.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
OP_ID=${OP:5:12}
start_server

count_keys() { sqlite3 -cmd '.timeout 5000' "$WORK/data/system.db" "SELECT COUNT(*) FROM api_keys"; }

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
ADMIN_ID=$(jq -r .admin_key_id "$WORK/resp")

# ---- lifetimes: bounded, the field named ----
before=$(count_keys)
for v in 9223372036854775807 '"9223372036854775807"' '"106751991167301d"' 3153600001 '"36501d"' \
    '"876001h"' 0 -1 '"0d"' '"-5"' '"+5"' '" 5"' '"1y"' '"5dd"' 1.5 true '{}'; do
    expect 422 "$ADMIN" POST /api/v1/keys "{\"role\":\"user\",\"expires_in\":$v}"
    jq -e '.error.param == "expires_in" and (.error.message | contains("100 years"))' "$WORK/resp" \
        >/dev/null || fail "expires_in $v: $(cat "$WORK/resp")"
done
[ "$(count_keys)" = "$before" ] || fail "a refused expires_in created a key"
now=$(date +%s)
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user","expires_in":"36500d"}'
exp=$(jq .expires_at "$WORK/resp")
LONG=$(jq -r .key "$WORK/resp")
[ "$exp" -ge $((now + 3153600000 - 5)) ] && [ "$exp" -le $((now + 3153600000 + 5)) ] ||
    fail "36500d expires at $exp"
expect 200 "$LONG" GET /v1/models
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user","expires_in":3600}'
exp=$(jq .expires_at "$WORK/resp")
[ "$exp" -ge $((now + 3595)) ] && [ "$exp" -le $((now + 3605)) ] || fail "3600 s expires at $exp"
pass "expires_in: 1 s to 100 years, else 422 naming expires_in; nothing stored"

for lim in '{"rpm":1099511627777}' '{"tokens_per_day":9223372036854775807}' '{"rpm":-1}'; do
    expect 422 "$ADMIN" POST /api/v1/keys "{\"role\":\"user\",\"limits\":$lim}"
    jq -e '.error.param == "rpm" or .error.param == "tokens_per_day"' "$WORK/resp" >/dev/null ||
        fail "key limits $lim: $(cat "$WORK/resp")"
done
for lim in '{"retention_days":9223372036854775807}' '{"retention_days":3651}' \
    '{"rpm":1099511627777}'; do
    expect 422 "$OP" POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"x\",\"limits\":$lim}"
    jq -e '.error.param == "retention_days" or .error.param == "rpm"' "$WORK/resp" >/dev/null ||
        fail "tenant limits $lim: $(cat "$WORK/resp")"
done
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"x","limits":{"retention_days":3650}}'
expect 200 "$OP" DELETE /api/v1/tenants/x
pass "limits and retention_days bounded (422 naming the field)"

cli_refuses() { # cli_refuses WORD ARGS...: exit 2, stderr mentions WORD, no key created
    local word=$1
    shift
    local before rc=0
    before=$(count_keys)
    "$BIN" key create --data "$WORK/data" --tenant ville "$@" >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" = 2 ] || fail "key create $*: exit $rc: $(cat "$WORK/out" "$WORK/err")"
    grep -q -- "$word" "$WORK/err" || fail "key create $*: $(cat "$WORK/err")"
    [ "$(count_keys)" = "$before" ] || fail "key create $* created a key"
}
for v in 9223372036854775807 106751991167301d 36501d 0 -5 5x ''; do
    cli_refuses --expires --role user --expires "$v"
done
cli_refuses --rpm --role user --rpm 99999999999999999999
cli_refuses --rpm --role user --rpm abc
cli_refuses --rpm --role user --rpm -1
cli_refuses --tokens-per-day --role user --tokens-per-day 1099511627777
now=$(date +%s)
"$BIN" key create --data "$WORK/data" --tenant ville --role user --expires 36500d >"$WORK/out" ||
    fail "--expires 36500d"
K=$(tail -n1 "$WORK/out")
expect 200 "$K" GET /v1/models
exp=$(sqlite3 "$WORK/data/system.db" "SELECT expires_at FROM api_keys WHERE id = '${K:5:12}'")
[ "$exp" -ge $((now + 3153600000 - 5)) ] || fail "--expires 36500d stored $exp"
pass "CLI --expires, --rpm, --tokens-per-day: same bounds, exit 2, nothing created"

# ---- the last usable admin key ----
expect 409 "$ADMIN" DELETE "/api/v1/keys/$ADMIN_ID"
jq -e '.error.code == "last_admin_key" and (.error.message | contains("last usable admin key"))' \
    "$WORK/resp" >/dev/null || fail "409 body: $(cat "$WORK/resp")"
expect 200 "$ADMIN" GET /api/v1/keys
# an expired admin key does not count
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"admin","expires_in":"1h"}'
OLD_ID=$(jq -r .id "$WORK/resp")
sqlite3 -cmd '.timeout 5000' "$WORK/data/system.db" "UPDATE api_keys SET expires_at = 1 WHERE id = '$OLD_ID'"
expect 409 "$ADMIN" DELETE "/api/v1/keys/$ADMIN_ID"
# editors and users may always go; a second usable admin lets the first go
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
expect 200 "$ADMIN" DELETE "/api/v1/keys/$(jq -r .id "$WORK/resp")"
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"admin"}'
ADMIN2=$(jq -r .key "$WORK/resp")
ADMIN2_ID=$(jq -r .id "$WORK/resp")
expect 200 "$ADMIN2" DELETE "/api/v1/keys/$ADMIN_ID"
expect 401 "$ADMIN" GET /api/v1/keys
expect 409 "$ADMIN2" DELETE "/api/v1/keys/$ADMIN2_ID"
rc=0
"$BIN" key revoke --data "$WORK/data" --tenant ville "$ADMIN2_ID" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "last usable admin key" "$WORK/err" || fail "cli revoke: exit $rc: $(cat "$WORK/err")"
expect 200 "$ADMIN2" GET /api/v1/keys
# the operator's last key too
expect 409 "$OP" DELETE "/api/v1/keys/$OP_ID"
jq -e '.error.code == "last_operator_key"' "$WORK/resp" >/dev/null || fail "$(cat "$WORK/resp")"
rc=0
"$BIN" key revoke --data "$WORK/data" --operator "$OP_ID" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q "last usable operator key" "$WORK/err" || fail "cli revoke operator: $rc"
expect 200 "$OP" GET /api/v1/keys
pass "the last usable admin (or operator) key cannot be revoked: 409 and CLI exit 1; expired keys do not count"

# ---- two admins revoking each other at once: never both ----
for i in $(seq 1 15); do
    expect 201 "$OP" POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"race-$i\"}"
    A=$(jq -r .admin_key "$WORK/resp")
    A_ID=$(jq -r .admin_key_id "$WORK/resp")
    expect 201 "$A" POST /api/v1/keys '{"role":"admin"}'
    B=$(jq -r .key "$WORK/resp")
    B_ID=$(jq -r .id "$WORK/resp")
    curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $A" \
        "$URL/api/v1/keys/$B_ID" >"$WORK/s1" &
    p1=$!
    curl -sS -o /dev/null -w '%{http_code}' -X DELETE -H "Authorization: Bearer $B" \
        "$URL/api/v1/keys/$A_ID" >"$WORK/s2" &
    p2=$!
    wait $p1 $p2
    s1=$(cat "$WORK/s1") s2=$(cat "$WORK/s2")
    [ "$s1" = 200 ] && [ "$s2" = 200 ] && fail "round $i: both admins revoked (tenant locked out)"
    [ "$s1" = 200 ] || [ "$s2" = 200 ] || fail "round $i: neither revocation went through ($s1, $s2)"
    call "$A" GET /api/v1/keys
    a=$STATUS
    call "$B" GET /api/v1/keys
    [ "$a$STATUS" = 200401 ] || [ "$a$STATUS" = 401200 ] || fail "round $i: admins answer $a and $STATUS"
done
pass "concurrent revocations of the last two admin keys: one goes, one stays (15 rounds)"
echo "t_keys: all passed"
