#!/usr/bin/env bash
# The audit log through HTTP and the CLI against the real server: management
# actions and denied requests are recorded with the actor's key id and no
# secret; `libreair audit verify` and GET /api/v1/audit/verify say the chain
# is intact, then name the event where it breaks once the database file has
# been tampered with (sqlite3), or put back from an older copy.
source "$(dirname "$0")/lib.sh"

"$BIN" audit --help | grep -q 'audit verify' || fail "audit --help"
"$BIN" audit nope 2>/dev/null && fail "unknown subcommand must fail"
pass "audit --help"

init_data
OP=$KEY
OP_ID=${OP:5:12}
start_server

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
# has_event KEY FILTER: the log read with KEY holds an event matching the jq FILTER
has_event() {
    expect 200 "$1" GET "/api/v1/audit?limit=1000"
    jq -e "[.data[] | select($2)] | length > 0" "$WORK/resp" >/dev/null ||
        fail "no event matching $2 in: $(jq -c '[.data[] | [.seq, .actor, .action, .target, .outcome, .detail]]' "$WORK/resp")"
}

# ---- management actions are recorded with the actor's key id ----
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"Ville A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
ADMIN_ID=$(jq -r .admin_key_id "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
EDITOR_ID=$(jq -r .id "$WORK/resp")
expect 200 "$ADMIN" DELETE "/api/v1/keys/$EDITOR_ID"
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
USER=$(jq -r .key "$WORK/resp")
USER_ID=$(jq -r .id "$WORK/resp")

has_event "$OP" ".action == \"tenant.create\" and .target == \"tenant:ville-a\" and .actor == \"$OP_ID\" and .outcome == \"ok\""
has_event "$ADMIN" ".action == \"key.create\" and .target == \"key:$EDITOR_ID\" and .actor == \"$ADMIN_ID\""
has_event "$ADMIN" ".action == \"key.revoke\" and .target == \"key:$EDITOR_ID\" and .actor == \"$ADMIN_ID\""
jq -e '[.data[] | select(.action == "tenant.create")] | length == 0' "$WORK/resp" >/dev/null ||
    fail "the tenant reads the operator's events"
jq -e '.data | (map(.seq) == (map(.seq) | sort)) and all(.hash | test("^[0-9a-f]{64}$"))' \
    "$WORK/resp" >/dev/null || fail "events in seq order with their hashes"
pass "tenant and key management recorded with actor key ids, each log to its owner"

# ---- denied access ----
BAD="lair_0123456789ab_ThisIsNotTheRightSecretButLooksLikeOne000000"
expect 401 "$BAD" GET /api/v1/keys
expect 401 "" GET /api/v1/keys
expect 401 "$EDITOR" GET /api/v1/keys # revoked
has_event "$OP" '.action == "access.denied" and .actor == "anonymous" and .target == "route:keys" and .outcome == "401" and (.detail | contains("credential:invalid"))'
has_event "$OP" '.action == "access.denied" and .actor == "anonymous" and (.detail | contains("credential:missing"))'
expect 403 "$USER" GET /api/v1/audit
has_event "$ADMIN" ".action == \"access.denied\" and .actor == \"$USER_ID\" and .target == \"route:audit\" and .outcome == \"403\""
expect 403 "$ADMIN" GET /api/v1/tenants
has_event "$ADMIN" ".action == \"access.denied\" and .actor == \"$ADMIN_ID\" and .target == \"route:tenants\""
expect 404 "$ADMIN" DELETE /api/v1/keys/000000000000
has_event "$ADMIN" ".action == \"access.notfound\" and .target == \"route:key\" and .outcome == \"404\""
expect 404 "$USER" GET /v1/models/no-such-model
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
jq -e '[.data[] | select(.target == "route:model")] | length == 0' "$WORK/resp" >/dev/null ||
    fail "a 404 on the OpenAI surface is not an audit event"
for f in "$WORK"/data/system.db* "$WORK"/data/tenants/ville-a/tenant.db*; do
    ! grep -aq ThisIsNotTheRightSecret "$f" || fail "a presented secret reached $f"
    ! grep -aq "${ADMIN:18}" "$f" || fail "the admin secret reached $f"
done
pass "denied and not-found requests recorded, without key material"

# ---- reading ----
expect 200 "$ADMIN" GET "/api/v1/audit?limit=2"
jq -e '(.data | length) == 2 and .has_more == true and .data[0].seq == 1' "$WORK/resp" >/dev/null ||
    fail "limit: $(cat "$WORK/resp")"
expect 200 "$ADMIN" GET "/api/v1/audit?after=2&limit=1"
jq -e '.data[0].seq == 3' "$WORK/resp" >/dev/null || fail "after"
expect 200 "$ADMIN" GET "/api/v1/audit?since=2999-01-01T00:00:00Z"
jq -e '(.data | length) == 0 and .has_more == false' "$WORK/resp" >/dev/null || fail "since (future)"
expect 200 "$ADMIN" GET "/api/v1/audit?since=$(($(date +%s) - 3600))"
jq -e '(.data | length) > 0' "$WORK/resp" >/dev/null || fail "since (an hour ago)"
expect 422 "$ADMIN" GET "/api/v1/audit?since=yesterday"
jq -e '.error.param == "since"' "$WORK/resp" >/dev/null || fail "bad since names the param"
expect 422 "$ADMIN" GET "/api/v1/audit?limit=0"
pass "listing: since, after, limit"

# ---- verification, intact ----
expect 200 "$ADMIN" GET /api/v1/audit/verify
jq -e '.ok == true and .events >= 6 and (.head.hash | test("^[0-9a-f]{64}$"))' "$WORK/resp" >/dev/null ||
    fail "tenant verify: $(cat "$WORK/resp")"
expect 200 "$OP" GET /api/v1/audit/verify
# (tenant.create and two 401s: the revoked key's 401 is the same kind as
# $BAD's, counted and written later as one aggregate, docs/audit.md)
jq -e '.ok == true and .events >= 3' "$WORK/resp" >/dev/null || fail "operator verify: $(cat "$WORK/resp")"
expect 403 "$USER" GET /api/v1/audit/verify
out=$("$BIN" audit verify --data "$WORK/data") || fail "cli verify: $out"
[[ $out == "ok: "*" events"* ]] || fail "cli verify says: $out"
out=$("$BIN" audit verify --data "$WORK/data" --tenant ville-a) || fail "cli verify tenant: $out"
[[ $out == "ok: "* ]] || fail "cli verify tenant says: $out"
"$BIN" audit verify --data "$WORK/data" --tenant nowhere 2>/dev/null && fail "unknown tenant must fail"
"$BIN" audit list --data "$WORK/data" --tenant ville-a | grep -q "key.revoke	key:$EDITOR_ID" ||
    fail "cli list"
"$BIN" audit list --data "$WORK/data" --json | jq -se 'map(select(.action == "tenant.create")) | length == 1' \
    >/dev/null || fail "cli list --json"
pass "intact logs verify through HTTP and the CLI"

# ---- tampering ----
sql() { sqlite3 -cmd '.timeout 5000' "$@"; }
sql "$WORK/data/tenants/ville-a/tenant.db" "UPDATE audit SET outcome = 'error' WHERE seq = 2"
out=$("$BIN" audit verify --data "$WORK/data" --tenant ville-a) && fail "tampered log verifies: $out"
[[ $out == *"event 2 (modified)"* ]] || fail "cli does not name event 2: $out"
expect 200 "$ADMIN" GET /api/v1/audit/verify
jq -e '.ok == false and .broken_at == 2 and .reason == "modified" and .events_checked == 1' \
    "$WORK/resp" >/dev/null || fail "api verify after modification: $(cat "$WORK/resp")"
pass "a modified event is found by the CLI (exit 1) and the API, at its seq"

last=$(sql "$WORK/data/system.db" "SELECT MAX(seq) FROM audit")
sql "$WORK/data/system.db" "DELETE FROM audit WHERE seq = $last"
set +e
out=$("$BIN" audit verify --data "$WORK/data")
rc=$?
set -e
[ $rc = 1 ] || fail "truncated log: exit $rc ($out)"
[[ $out == *"event $last (truncated)"* ]] || fail "cli does not name event $last: $out"
expect 200 "$OP" GET /api/v1/audit/verify
jq -e ".ok == false and .broken_at == $last and .reason == \"truncated\"" "$WORK/resp" >/dev/null ||
    fail "api verify after truncation: $(cat "$WORK/resp")"
# the next event does not paper over the gap (a refusal of a new kind:
# written at once, not counted into an aggregate)
expect 401 "$BAD" GET /api/v1/audit/verify
expect 200 "$OP" GET /api/v1/audit/verify
jq -e ".ok == false and .broken_at == $last" "$WORK/resp" >/dev/null ||
    fail "the gap after a new event: $(cat "$WORK/resp")"
pass "removing the last event is found (truncated), and stays found after new events"

curl -fsS "$URL/metrics" | grep -q '^libreair_audit_append_failures_total 0$' ||
    fail "metrics: no audit failure counter at 0"
pass "append failures are exported in /metrics"

# ---- an older copy of a tenant's database put back ----
# The copy's log and sealed head verify on their own; the high-water mark
# that system.db kept does not go back with them.
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"Ville B"}'
ADMIN_B=$(jq -r .admin_key "$WORK/resp")
DB_B=$WORK/data/tenants/ville-b/tenant.db
expect 201 "$ADMIN_B" POST /api/v1/keys '{"role":"user"}'
sql "$DB_B" ".backup '$WORK/ville-b-old.db'"
expect 201 "$ADMIN_B" POST /api/v1/keys '{"role":"user"}'
expect 201 "$ADMIN_B" POST /api/v1/keys '{"role":"editor"}'
expect 200 "$ADMIN_B" GET /api/v1/audit/verify
# 4: the operator's emergency key (operator.key_mint, docs/oidc.md) and three keys
jq -e '.ok == true and .events == 4' "$WORK/resp" >/dev/null || fail "ville-b before: $(cat "$WORK/resp")"
kill "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=
cp "$WORK/ville-b-old.db" "$DB_B"
rm -f "$DB_B-wal" "$DB_B-shm"
set +e
out=$("$BIN" audit verify --data "$WORK/data" --tenant ville-b)
rc=$?
set -e
[ $rc = 1 ] || fail "a tenant database put back from an older copy verifies: exit $rc ($out)"
[[ $out == *"breaks at event 3 (rolled_back)"* ]] || fail "cli does not say rolled back at 3: $out"
start_server
expect 200 "$ADMIN_B" GET /api/v1/audit/verify
jq -e '.ok == false and .reason == "rolled_back" and .broken_at == 3' "$WORK/resp" >/dev/null ||
    fail "api verify after the restore: $(cat "$WORK/resp")"
# new events chain from the restored head, and do not move the mark
for i in 1 2 3; do expect 201 "$ADMIN_B" POST /api/v1/keys '{"role":"user"}'; done
expect 200 "$ADMIN_B" GET /api/v1/audit/verify
jq -e '.ok == false and .reason == "rolled_back" and .broken_at == 4' "$WORK/resp" >/dev/null ||
    fail "api verify after new events: $(cat "$WORK/resp")"
grep -q "tenant:ville-b log: it does not hold event 4" "$WORK/server.err" ||
    fail "the server does not say the log went back: $(cat "$WORK/server.err")"
pass "a tenant's database put back from an older copy is found (rolled_back), also after new events"
