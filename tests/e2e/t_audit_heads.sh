#!/usr/bin/env bash
# The audit chains' heads written outside the data directory
# (--audit-heads-file), and `audit verify --against` catching what nothing
# inside the data directory can: the whole directory (system.db with its
# high-water marks, the tenant's database) put back from an older copy, as
# someone holding it could do.
source "$(dirname "$0")/lib.sh"

HEADS=$WORK/elsewhere/heads.log
mkdir -p "$WORK/elsewhere"
init_data
OP=$KEY
"$BIN" serve --data "$WORK/data" --listen 127.0.0.1:0 --audit-heads-file /nonexistent/dir/h.log \
    >"$WORK/bad.out" 2>&1 && fail "a heads file that cannot be written was accepted"
grep -q 'cannot append' "$WORK/bad.out" || fail "no reason given: $(cat "$WORK/bad.out")"
start_server --audit-heads-file "$HEADS"

KEY=$OP api POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}' >/dev/null
[ "$STATUS" = 201 ] || fail "tenant"
ADMIN=$(jq -r .admin_key "$WORK/resp")
for i in 1 2 3; do
    KEY=$ADMIN api POST /api/v1/keys '{"role":"user"}' >/dev/null
    [ "$STATUS" = 201 ] || fail "key $i"
done
# the writer runs about every second
for i in $(seq 1 50); do grep -q 'audit-head tenant:ville ' "$HEADS" 2>/dev/null && break; sleep 0.1; done
grep -q 'audit-head tenant:ville ' "$HEADS" || fail "no head of the tenant's chain written: $(cat "$HEADS" 2>&1)"
grep -q 'audit-head system ' "$HEADS" || fail "no head of the operator's chain written"
[ "$(stat -c %a "$HEADS")" = 600 ] || fail "heads file mode $(stat -c %a "$HEADS")"
out=$("$BIN" audit verify --data "$WORK/data" --tenant ville --against "$HEADS") || fail "verify: $out"
grep -q 'written outside match' <<<"$out" || fail "verify did not use the heads: $out"
# a file without this log's heads checks nothing: refused, not "ok"
grep -v 'tenant:ville' "$HEADS" >"$WORK/other-heads"
if out=$("$BIN" audit verify --data "$WORK/data" --tenant ville --against "$WORK/other-heads" 2>&1); then
    fail "verify --against a file without the tenant's heads passed: $out"
fi
grep -q 'holds no head of' <<<"$out" || fail "verify --against nothing: $out"
pass "every chain's head goes to the heads file; verify --against agrees, and refuses a file without the log's heads"

# a copy of the whole data directory as it is now
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
cp -a "$WORK/data" "$WORK/old"
start_server --audit-heads-file "$HEADS"
for i in 1 2; do KEY=$ADMIN api POST /api/v1/keys '{"role":"user"}' >/dev/null; done
last=$(grep 'audit-head tenant:ville ' "$HEADS" | tail -n1 | awk '{print $4}')
for i in $(seq 1 50); do
    now=$(grep 'audit-head tenant:ville ' "$HEADS" | tail -n1 | awk '{print $4}')
    [ "$now" -gt "$last" ] 2>/dev/null && break
    sleep 0.1
done
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
# everything put back: the chains, their sealed heads, the marks in system.db
rm -rf "$WORK/data"
cp -a "$WORK/old" "$WORK/data"
"$BIN" audit verify --data "$WORK/data" --tenant ville >"$WORK/v1" ||
    fail "the old copy should verify on its own (nothing inside can tell): $(cat "$WORK/v1")"
if "$BIN" audit verify --data "$WORK/data" --tenant ville --against "$HEADS" >"$WORK/v2"; then
    fail "a data directory put back whole passed verify --against: $(cat "$WORK/v2")"
fi
grep -q 'rolled_back' "$WORK/v2" || fail "verify --against: $(cat "$WORK/v2")"
pass "a whole data directory put back from an older copy: verify alone passes, verify --against fails (rolled_back)"
