#!/usr/bin/env bash
# libreair init --key-file: the operator key goes to a new file that only its
# owner may read (the Debian package's post-install step writes
# /etc/libreair/operator.key so), never to stdout; an existing file is refused
# and then nothing is initialised. Without the flag, init still prints the key
# alone on the last line (t_http.sh).
source "$(dirname "$0")/lib.sh"

"$BIN" init --help | grep -q -- '--key-file' || fail "init --help names --key-file"

# umask 000: the file is 0600 all the same
out=$(umask 000; "$BIN" init --data "$WORK/data" --key-file "$WORK/operator.key")
[ "$(stat -c %a "$WORK/operator.key")" = 600 ] || fail "key file mode $(stat -c %a "$WORK/operator.key")"
KEY=$(cat "$WORK/operator.key")
[[ $KEY == lair_* ]] || fail "the key file holds no key"
[ "$(wc -l <"$WORK/operator.key")" = 1 ] || fail "the key file is not one line"
grep -q "$KEY" <<<"$out" && fail "the key was printed with --key-file"
grep -q "$WORK/operator.key" <<<"$out" || fail "init does not say where the key went: $out"
[ -f "$WORK/data/system.db" ] || fail "no system.db"
grep -q "$KEY" "$WORK/data/system.db" && fail "the key is stored in clear"
pass "init --key-file writes the key to a 0600 file and prints only where it is"

# an existing file (or a link) is never overwritten, and nothing is initialised
echo "keep me" >"$WORK/taken"
"$BIN" init --data "$WORK/data2" --key-file "$WORK/taken" >/dev/null 2>"$WORK/err" && fail "an existing key file was accepted"
grep -q 'never overwritten' "$WORK/err" || fail "refusal message: $(cat "$WORK/err")"
[ "$(cat "$WORK/taken")" = "keep me" ] || fail "the existing file was changed"
[ -e "$WORK/data2" ] && fail "the data directory was created although the key file was refused"
ln -s "$WORK/elsewhere" "$WORK/link"
"$BIN" init --data "$WORK/data2" --key-file "$WORK/link" >/dev/null 2>&1 && fail "a link was followed"
[ -e "$WORK/elsewhere" ] && fail "the link's target was created"
"$BIN" init --data "$WORK/data2" --key-file "$WORK/no/such/dir/key" >/dev/null 2>&1 && fail "a key file in a missing folder was accepted"
[ -e "$WORK/data2" ] && fail "the data directory was created although the key file could not be"
pass "an existing key file or a link is refused, and nothing is initialised"

# a data directory already initialised: refused, and the new key file is gone
"$BIN" init --data "$WORK/data" --key-file "$WORK/second.key" >/dev/null 2>&1 && fail "second init accepted"
[ -e "$WORK/second.key" ] && fail "a refused init left a key file"
pass "init of an initialised directory leaves no key file"

# the key in the file is the operator key
start_server
api GET /api/v1/tenants >/dev/null
[ "$STATUS" = 200 ] || fail "the key from the file is refused: $STATUS"
api POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}' >/dev/null
[ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "tenant create with the file's key: $STATUS"
pass "the key in the file is the operator key"
