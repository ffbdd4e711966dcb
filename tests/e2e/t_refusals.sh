#!/usr/bin/env bash
# Refused requests in the audit log (docs/audit.md, "Refusals"), against
# the real server: a burst of anonymous 401s, a key's 403s and a scan from
# twenty addresses (127.0.0.2…21, more than the table follows) leave a
# bounded number of events whose counts add up to the requests refused;
# the real events written in between are there; the logs verify; the
# audit log names clients by a token, never by address. Then, with a
# 1-second period, an aggregate is written while the server runs.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
export LIBREAIR_AUDIT_REFUSAL_KINDS=8 # 7 kinds followed one by one, then "other clients"
start_server
unset LIBREAIR_AUDIT_REFUSAL_KINDS

# call KEY METHOD PATH [BODY] -> STATUS, body in $WORK/resp
call() {
    local key=$1 method=$2 path=$3 body=${4:-}
    local args=(-sS -o "$WORK/resp" -w '%{http_code}' -X "$method")
    [ -n "$key" ] && args+=(-H "Authorization: Bearer $key")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$URL$path")
}
expect() { # expect STATUS KEY METHOD PATH [BODY]
    local want=$1
    shift
    call "$@"
    [ "$STATUS" = "$want" ] || fail "$2 $3: got $STATUS, want $want: $(head -c 300 "$WORK/resp")"
}
# burst N STATUS [CURL ARGS...] -- PATH: N requests on one connection, each answered STATUS
burst() {
    local n=$1 want=$2 path
    shift 2
    local args=()
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    path=$2
    local urls=()
    for _ in $(seq "$n"); do urls+=(-o /dev/null "$URL$path"); done
    curl -sS "${args[@]}" -w '%{http_code}\n' "${urls[@]}" >"$WORK/codes"
    [ "$(grep -c "^$want\$" "$WORK/codes")" = "$n" ] ||
        fail "burst on $path: $(sort "$WORK/codes" | uniq -c | tr '\n' ' ')"
}
BAD="lair_0123456789ab_ThisIsNotTheRightSecretButLooksLikeOne000000"

burst 60 401 -- /api/v1/keys
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$OP" POST /api/v1/keys '{"role":"operator","name":"second"}'
SECOND_ID=$(jq -r .id "$WORK/resp")
burst 40 401 -H "Authorization: Bearer $BAD" -- /api/v1/keys
burst 10 403 -H "Authorization: Bearer $ADMIN" -- /api/v1/tenants
for a in $(seq 2 21); do
    burst 3 401 --interface "127.0.0.$a" -- /api/v1/tenants
done
OP_REFUSED=$((60 + 40 + 20 * 3))

# while the server runs: only the first of each kind is in the log
expect 200 "$OP" GET "/api/v1/audit?limit=1000"
jq -e '[.data[] | select(.action == "access.denied")] | length <= 7' "$WORK/resp" >/dev/null ||
    fail "more events than kinds: $(jq -c '[.data[] | [.seq, .action, .outcome, .detail]]' "$WORK/resp")"
jq -e '[.data[] | select(.action == "tenant.create" and .target == "tenant:ville")] | length == 1' \
    "$WORK/resp" >/dev/null || fail "tenant.create missing"
jq -e --arg t "key:$SECOND_ID" '[.data[] | select(.action == "key.create" and .target == $t)] | length == 1' \
    "$WORK/resp" >/dev/null || fail "key.create missing"
jq -e '[.data[] | select(.action == "access.denied")] | all(.detail | test("client:[0-9a-f]{12}"))' \
    "$WORK/resp" >/dev/null || fail "refusals without a client token"
curl -fsS "$URL/metrics" >"$WORK/metrics"
grep -q "^libreair_audit_refusals_total $((OP_REFUSED + 10))\$" "$WORK/metrics" ||
    fail "metrics: $(grep refusal "$WORK/metrics")"
grep -q '^libreair_audit_refusal_kinds 8$' "$WORK/metrics" || fail "kinds: $(grep kinds "$WORK/metrics")"
pass "a burst of $((OP_REFUSED + 10)) refusals: one event per kind so far, real events in between"

# at shutdown the counts are written
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
grep -q "more refusals.*address 127.0.0.1" "$WORK/server.err" ||
    fail "the server log does not say which address: $(grep refusal "$WORK/server.err")"
# sum of refusals: an event is 1, an aggregate its count:N
total='[.[] | select(.action == "access.denied" or .action == "access.refused")
        | ((.detail | capture("count:(?<n>[0-9]+)") | .n | tonumber) // 1)] | add'
"$BIN" audit list --data "$WORK/data" --json >"$WORK/op.json"
n=$(jq -s "$total" "$WORK/op.json")
[ "$n" = "$OP_REFUSED" ] || fail "operator log counts $n refusals, $OP_REFUSED were made: $(
    jq -c 'select(.action | startswith("access")) | [.seq, .outcome, .detail]' "$WORK/op.json")"
events=$(jq -s '[.[] | select(.action == "access.denied" or .action == "access.refused")] | length' "$WORK/op.json")
[ "$events" -le 15 ] || fail "$events refusal events for $OP_REFUSED refusals"
jq -se '[.[] | select(.action == "access.refused" and .actor == "various")
         | select(.detail | test("clients:other count:[0-9]+ 401:[0-9]+"))] | length == 1' \
    "$WORK/op.json" >/dev/null || fail "no other-clients aggregate"
jq -se '[.[] | select(.action == "tenant.create")] | length == 1' "$WORK/op.json" >/dev/null ||
    fail "tenant.create lost"
"$BIN" audit list --data "$WORK/data" --tenant ville --json >"$WORK/t.json"
n=$(jq -s "$total" "$WORK/t.json")
[ "$n" = 10 ] || fail "tenant log counts $n refusals of 10: $(cat "$WORK/t.json")"
jq -se '[.[] | select(.action == "access.denied")] | length == 2' "$WORK/t.json" >/dev/null ||
    fail "tenant refusals: $(cat "$WORK/t.json")"
! grep -aq "127\.0\.0\." "$WORK"/data/system.db* "$WORK"/data/tenants/ville/tenant.db* ||
    fail "a client address in an audit log"
out=$("$BIN" audit verify --data "$WORK/data") || fail "verify: $out"
out=$("$BIN" audit verify --data "$WORK/data" --tenant ville) || fail "verify tenant: $out"
pass "at shutdown: $events events for $OP_REFUSED anonymous refusals, counts add up, logs verify"

# a period that ends while the server runs
export LIBREAIR_AUDIT_REFUSAL_PERIOD_S=1
start_server
unset LIBREAIR_AUDIT_REFUSAL_PERIOD_S
burst 5 401 -- /api/v1/audit
found=
for _ in $(seq 1 100); do # the flusher writes within a second or two
    if "$BIN" audit list --data "$WORK/data" --json |
        jq -se '[.[] | select(.target == "route:audit" and (.detail | contains("count:4 ")))] | length == 1' \
            >/dev/null; then
        found=1
        break
    fi
    sleep 0.1
done
[ -n "$found" ] || fail "no aggregate written at the end of its period"
expect 200 "$OP" GET /api/v1/audit/verify
jq -e '.ok == true' "$WORK/resp" >/dev/null || fail "verify: $(cat "$WORK/resp")"
pass "an aggregate is written when its period ends"
echo "t_refusals: all passed"
