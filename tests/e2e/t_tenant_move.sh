#!/usr/bin/env bash
# A tenant moves between two data directories (two servers, two peppers)
# with `libreair tenant export` (while the source server runs) and
# `libreair tenant import` (docs/operations.md): its assistants (published
# and draft versions), knowledge-base documents and search results,
# conversations (a moved conversation continues on the new server) and
# audit chain (the events up to the export identical, `audit verify` ok
# after the import) are the same after the move; the archive holds no key
# secret; the old keys do not work on the new server (another pepper) and
# the admin key the import prints does; importing twice is refused, under
# another slug works (resealed for it), and a damaged archive is refused
# without leaving a tenant behind, as is a rewritten archive with a member
# that climbs out of the tenant's folder; allowed_models move with it, and
# so do its members (a removed one stays removed: the row moves, with its
# veto) and access rules, unless their ids are taken (the second import);
# an archive whose people.json was rewritten (a role that does not exist,
# checksums consistent) is refused with nothing written.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
SERVE=(--model "stories=$STORIES" --slots 1 --ctx 2048 --threads 1)
start_server "${SERVE[@]}"

# serve_on DIR: a server on another data directory (replacing the running one)
serve_on() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -f "$WORK/s.out"
    "$BIN" serve --data "$1" --listen 127.0.0.1:0 "${SERVE[@]}" >"$WORK/s.out" 2>"$WORK/s.err" &
    SERVER_PID=$!
    local i
    for i in $(seq 1 600); do
        grep -q '^libreair: ready' "$WORK/s.out" 2>/dev/null && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/s.err" >&2; fail "server on $1 exited"; }
        sleep 0.1
    done
    URL=$(sed -n 's/^libreair: listening on \(https\{0,1\}:[^ ]*\)$/\1/p' "$WORK/s.out")
}
chat() { # chat KEY SUBJECT TEXT [CONVERSATION]: sets CID
    local body
    body=$(jq -cn --arg u "$2" --arg t "$3" --arg c "${4:-}" \
        '{model:"conte",user:$u,max_tokens:6,temperature:0,messages:[{role:"user",content:$t}]}
         + (if $c == "" then {} else {conversation_id:$c} end)')
    expect 200 "$1" POST /v1/chat/completions "$body"
    CID=$(jq -r .conversation_id "$WORK/resp")
}
# snapshot NAME KEY: what the tenant looks like through the API, in $WORK/NAME.*
snapshot() {
    expect 200 "$2" GET /api/v1/assistants
    jq -S . "$WORK/resp" >"$WORK/$1.assistants"
    expect 200 "$2" GET /api/v1/assistants/conte/versions
    jq -S . "$WORK/resp" >"$WORK/$1.versions"
    expect 200 "$2" GET /api/v1/knowledge-bases/docs/documents
    jq -S . "$WORK/resp" >"$WORK/$1.documents"
    expect 200 "$2" POST /api/v1/knowledge-bases/docs/search '{"query":"horaires de la mairie","top_k":5}'
    jq -S . "$WORK/resp" >"$WORK/$1.search"
    jq -e '.results | length > 0' "$WORK/$1.search" >/dev/null || fail "$1: search found nothing"
    : >"$WORK/$1.subjects"
    for s in habitant-1 habitant-2; do
        expect 200 "$2" POST /api/v1/gdpr/export "{\"subject\":\"$s\"}"
        jq -S '.conversations' "$WORK/resp" >>"$WORK/$1.subjects"
    done
}

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"Ville A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"voisine","name":"Voisine"}'
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Documents"}'
mkdir -p "$WORK/docs"
printf '# Horaires\n\nLa mairie est ouverte du lundi au vendredi de 9 h à 17 h.\n' >"$WORK/docs/horaires.md"
printf 'Les inscriptions scolaires se font en mairie avant le 30 juin.\n' >"$WORK/docs/ecoles.txt"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    -F "file=@$WORK/docs/horaires.md" -F "file=@$WORK/docs/ecoles.txt" \
    "$URL/api/v1/knowledge-bases/docs/documents")
[ "$STATUS" = 202 ] || fail "upload: $STATUS"
JOB=$(jq -r .job_id "$WORK/resp")
for i in $(seq 1 600); do
    expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB"
    [ "$(jq -r .state "$WORK/resp")" = done ] && break
    sleep 0.1
done
[ "$(jq -r .state "$WORK/resp")" = done ] || fail "ingestion: $(cat "$WORK/resp")"
expect 201 "$EDITOR" POST /api/v1/assistants \
    '{"slug":"conte","model":"stories","instructions":"Tell a story.","knowledge_bases":["docs"]}'
expect 200 "$EDITOR" POST /api/v1/assistants/conte/publish '{}'
expect 200 "$EDITOR" PUT /api/v1/assistants/conte \
    '{"slug":"conte","model":"stories","instructions":"Tell a short story.","knowledge_bases":["docs"]}'
expect 201 "$EDITOR" POST /api/v1/assistants '{"slug":"brouillon","model":"stories","instructions":"Draft."}'
chat "$EDITOR" habitant-1 "Quels sont les horaires de la mairie ?"
MOVED=$CID
chat "$EDITOR" habitant-1 "Et le samedi ?" "$MOVED"
chat "$EDITOR" habitant-2 "Inscriptions scolaires ?"
snapshot before "$ADMIN"
"$BIN" audit verify --data "$WORK/data" --tenant ville-a >/dev/null || fail "audit verify before"
# the models the operator allows the tenant move with it
"$BIN" tenant set ville-a --allowed-models stories --data "$WORK/data" >/dev/null || fail "tenant set"
# and its members and access rules; bob is removed before the export
expect 201 "$ADMIN" POST /api/v1/members '{"email":"alice@mairie.fr","role":"admin"}'
expect 201 "$ADMIN" POST /api/v1/members '{"email":"bob@mairie.fr","role":"user"}'
BOB=$(jq -r .id "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/members '{"email":"carole@mairie.fr","role":"editor"}'
expect 200 "$ADMIN" DELETE "/api/v1/members/$BOB"
expect 200 "$ADMIN" PUT /api/v1/access \
    '{"rules":[{"kind":"siret","value":"21750001600019","role":"editor"}]}'
expect 200 "$ADMIN" GET /api/v1/members
jq -S . "$WORK/resp" >"$WORK/before.members"
[ "$(jq '.data | length' "$WORK/before.members")" = 2 ] || fail "members: $(cat "$WORK/before.members")"
expect 200 "$ADMIN" GET /api/v1/access
jq -S . "$WORK/resp" >"$WORK/before.access"

# ---- export while the server runs ----
mkdir -p "$WORK/move"
ARCHIVE=$WORK/move/ville-a.tar
"$BIN" tenant export --data "$WORK/data" --tenant ville-a --to "$ARCHIVE" >"$WORK/export.out" ||
    fail "export"
SHA=$(tail -n1 "$WORK/export.out" | cut -d' ' -f1)
[ "$SHA" = "$(sha256sum "$ARCHIVE" | cut -d' ' -f1)" ] || fail "export printed the wrong checksum"
(cd "$WORK/move" && sha256sum -c --quiet ville-a.tar.sha256) || fail "ville-a.tar.sha256"
tar tf "$ARCHIVE" >"$WORK/members"
for m in manifest.json keys.json people.json tenant.db; do grep -qx "$m" "$WORK/members" || fail "member $m"; done
grep -q ', 3 members (removed ones included), 1 access rules' "$WORK/export.out" ||
    fail "export: $(cat "$WORK/export.out")"
tar xOf "$ARCHIVE" people.json >"$WORK/people.json"
jq -e --arg b "$BOB" '[.members[] | select(.id == $b and .removed == 1 and .email == "bob@mairie.fr")]
    | length == 1' "$WORK/people.json" >/dev/null || fail "the removed member is not in people.json"
jq -e '.rules == [{"kind":"siret","value":"21750001600019","role":"editor","provider":""}]' \
    "$WORK/people.json" >/dev/null || fail "rules in people.json: $(jq -c .rules "$WORK/people.json")"
jq -e --arg s "$(sha256sum "$WORK/people.json" | cut -d' ' -f1)" \
    '[.files[] | select(.path == "people.json" and .sha256 == $s)] | length == 1' \
    <(tar xOf "$ARCHIVE" manifest.json) >/dev/null || fail "people.json is not in the manifest"
SECRET=${ADMIN#lair_*_} # the secret after "lair_<id>_" (it may hold underscores itself)
if grep -qaF -- "$SECRET" "$ARCHIVE"; then fail "the archive holds a key secret"; fi
HEAD=$(tar xOf "$ARCHIVE" manifest.json | jq -r .audit.head_seq)
[ "$(tar xOf "$ARCHIVE" manifest.json | jq -r .tenant.allowed_models)" = stories ] ||
    fail "the manifest does not carry allowed_models"
[ "$HEAD" -gt 0 ] || fail "no audit head in the manifest"
"$BIN" audit list --data "$WORK/data" --tenant ville-a --json |
    jq -c --argjson h "$HEAD" 'select(.seq <= $h)' >"$WORK/before.audit"
pass "export while serving: one archive, its checksum, no key secret, audit head $HEAD"

# ---- import into another data directory (another pepper) ----
B=$WORK/b
"$BIN" init --data "$B" >/dev/null
"$BIN" tenant import "$ARCHIVE" --sha256 "$SHA" --data "$B" >"$WORK/import.out" 2>&1 ||
    { cat "$WORK/import.out" >&2; fail "import"; }
grep -q 'not carried' "$WORK/import.out" || fail "import: $(cat "$WORK/import.out")"
grep -q 'Its 3 members (removed ones included) and 1 access rules were carried' "$WORK/import.out" ||
    fail "import: members: $(cat "$WORK/import.out")"
NEWKEY=$(tail -n1 "$WORK/import.out")
[[ $NEWKEY == lair_* ]] || fail "import printed no admin key"
"$BIN" audit verify --data "$B" --tenant ville-a >/dev/null || fail "audit verify after the move"
"$BIN" tenant show ville-a --data "$B" >"$WORK/show.out" || fail "tenant show after the move"
grep -q '^allowed_models  stories$' "$WORK/show.out" || fail "allowed_models not restored: $(cat "$WORK/show.out")"
"$BIN" audit verify --data "$B" >/dev/null || fail "operator log after the move"
"$BIN" audit list --data "$B" --tenant ville-a --json |
    jq -c --argjson h "$HEAD" 'select(.seq <= $h)' >"$WORK/after.audit"
cmp -s "$WORK/before.audit" "$WORK/after.audit" || fail "the audit events up to the export differ"
"$BIN" audit list --data "$B" --tenant ville-a --json | jq -se 'last | .action == "tenant.import"' >/dev/null ||
    fail "the import is not the last audit event"
"$BIN" audit list --data "$B" --tenant ville-a --json | jq -se 'last | .detail | test("members:3 ")' >/dev/null ||
    fail "the import's audit detail does not count the members"
serve_on "$B"
expect 401 "$ADMIN" GET /api/v1/assistants
expect 401 "$EDITOR" GET /api/v1/assistants
snapshot after "$NEWKEY"
expect 200 "$NEWKEY" GET /api/v1/members
jq -S . "$WORK/resp" >"$WORK/after.members"
expect 200 "$NEWKEY" GET /api/v1/access
jq -S . "$WORK/resp" >"$WORK/after.access"
for part in assistants versions documents search subjects members access; do
    cmp -s "$WORK/before.$part" "$WORK/after.$part" ||
        fail "$part differ after the move: $(diff "$WORK/before.$part" "$WORK/after.$part" | head -20)"
done
expect 201 "$NEWKEY" POST /api/v1/keys '{"role":"editor"}'
EDITOR_B=$(jq -r .key "$WORK/resp")
chat "$EDITOR_B" habitant-1 "Merci." "$MOVED"
[ "$CID" = "$MOVED" ] || fail "the moved conversation did not continue"
expect 200 "$NEWKEY" GET "/api/v1/conversations/$MOVED"
"$BIN" audit verify --data "$B" --tenant ville-a >/dev/null || fail "audit verify after new events"
if jq -e --arg b "$BOB" '.data[] | select(.id == $b)' "$WORK/after.members" >/dev/null; then
    fail "the removed member is listed after the move"
fi
pass "import: assistants, documents, search results, conversations, members and access rules identical; audit chain verifies; old keys 401, the new admin key works"

# ---- again, under another slug, and damaged ----
if "$BIN" tenant import "$ARCHIVE" --data "$B" >"$WORK/again.out" 2>&1; then fail "imported twice"; fi
grep -q 'exists already' "$WORK/again.out" || fail "again: $(cat "$WORK/again.out")"
"$BIN" tenant import "$ARCHIVE" --as ville-a-bis --data "$B" >"$WORK/bis.out" || fail "import --as"
# the member ids belong to ville-a here: no member comes over, the rules do
grep -q 'Its 1 access rules were carried, but not its 3 members' "$WORK/bis.out" ||
    fail "import --as: members: $(cat "$WORK/bis.out")"
"$BIN" audit verify --data "$B" --tenant ville-a-bis >/dev/null || fail "audit verify --as"
"$BIN" tenant show ville-a-bis --data "$B" | grep -q '^allowed_models  stories$' || fail "allowed_models --as"
cp "$ARCHIVE" "$WORK/damaged.tar"
printf '\x42' | dd of="$WORK/damaged.tar" bs=1 seek=40000 conv=notrunc status=none # in tenant.db
if "$BIN" tenant import "$WORK/damaged.tar" --as ville-a-ter --data "$B" >"$WORK/bad.out" 2>&1; then
    fail "a damaged archive was imported"
fi
[ ! -e "$B/tenants/ville-a-ter" ] || fail "a refused import left a directory"
"$BIN" tenant list --data "$B" >"$WORK/list.out"
if grep -q ville-a-ter "$WORK/list.out"; then fail "a refused import left a tenant"; fi
if "$BIN" tenant import "$ARCHIVE" --as ville-a-ter --sha256 "$(printf '0%.0s' $(seq 64))" --data "$B" >/dev/null 2>&1; then
    fail "a wrong --sha256 was accepted"
fi
# a rewritten archive whose manifest lists a member that climbs out of the
# tenant's folder (checksums consistent): refused, nothing written
mkdir -p "$WORK/evil" && (cd "$WORK/evil" && tar xf "$ARCHIVE")
echo pwned >"$WORK/evil/x"
jq --arg h "$(sha256sum "$WORK/evil/x" | cut -d' ' -f1)" \
    '.files += [{"path": "../evil", "size": 6, "sha256": $h}]' "$WORK/evil/manifest.json" >"$WORK/evil/m"
mv "$WORK/evil/m" "$WORK/evil/manifest.json"
(cd "$WORK/evil" && tar --format=ustar -cPf "$WORK/evil.tar" --transform 's,^x$,../evil,' \
    manifest.json keys.json tenant.db x)
if "$BIN" tenant import "$WORK/evil.tar" --as ville-a-evil --data "$B" >"$WORK/evil.out" 2>&1; then
    fail "an archive with ../evil was imported"
fi
grep -q 'not one a tenant export writes' "$WORK/evil.out" || fail "evil: $(cat "$WORK/evil.out")"
grep -q 'warning: no --sha256' "$WORK/evil.out" || fail "no warning without a checksum"
[ ! -e "$B/tenants/evil" ] && [ ! -e "$B/evil" ] && [ ! -e "$B/tenants/ville-a-evil" ] ||
    fail "a refused import wrote a file"
[ -z "$(find "$B/tenants" -maxdepth 1 -name '.import-*')" ] || fail "a refused import left its stage"
# a rewritten people.json (a role that does not exist), checksums consistent:
# refused, nothing written
mkdir -p "$WORK/forged" && (cd "$WORK/forged" && tar xf "$ARCHIVE")
jq '.members[0].role = "owner"' "$WORK/forged/people.json" >"$WORK/forged/p"
mv "$WORK/forged/p" "$WORK/forged/people.json"
jq --arg h "$(sha256sum "$WORK/forged/people.json" | cut -d' ' -f1)" \
    --argjson n "$(stat -c %s "$WORK/forged/people.json")" \
    '(.files[] | select(.path == "people.json")) |= (.sha256 = $h | .size = $n)' \
    "$WORK/forged/manifest.json" >"$WORK/forged/m"
mv "$WORK/forged/m" "$WORK/forged/manifest.json"
tar tf "$ARCHIVE" >"$WORK/forged.list" # the same members, in the same order
(cd "$WORK/forged" && tar --format=ustar -cf "$WORK/forged.tar" -T "$WORK/forged.list")
if "$BIN" tenant import "$WORK/forged.tar" --as ville-a-forged --data "$B" >"$WORK/forged.out" 2>&1; then
    fail "an archive with a rewritten people.json was imported"
fi
grep -q 'people.json is malformed' "$WORK/forged.out" || fail "forged: $(cat "$WORK/forged.out")"
[ ! -e "$B/tenants/ville-a-forged" ] || fail "a refused import left a directory"
if "$BIN" tenant list --data "$B" | grep -q ville-a-forged; then fail "a refused import left a tenant"; fi
[ -z "$(find "$B/tenants" -maxdepth 1 -name '.import-*')" ] || fail "a refused import left its stage"
pass "importing twice refused; --as reseals for the new slug; damaged archive, wrong checksum, a path that climbs out and a rewritten people.json refused"
