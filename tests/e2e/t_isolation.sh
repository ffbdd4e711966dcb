#!/usr/bin/env bash
# Tenant isolation and the role matrix (docs/roles.md), through HTTP against
# the real server: two tenants with assistants, conversations and keys; every
# endpoint called with tenant A's keys on tenant B's slugs and ids (and
# guessed ids) answers 404 and changes nothing; every role on every endpoint
# gets what the matrix says.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server --model "stories=$STORIES" --slots 2 --ctx 512 --threads 1

setup_tenant() { # setup_tenant SLUG -> sets ADMIN_<n>, EDITOR_<n>, USER_<n>, CONV_<n>
    local slug=$1 n=$2
    call "$OP" POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$slug\",\"name\":\"$slug\"}"
    [ "$STATUS" = 201 ] || fail "tenant $slug: $STATUS"
    local admin
    admin=$(jq -r .admin_key "$WORK/resp")
    call "$admin" POST /api/v1/keys '{"role":"editor"}'
    local editor
    editor=$(jq -r .key "$WORK/resp")
    call "$admin" POST /api/v1/keys '{"role":"user"}'
    local user
    user=$(jq -r .key "$WORK/resp")
    expect 201 "$editor" POST /api/v1/assistants \
        "{\"slug\":\"accueil-${n,,}\",\"name\":\"Accueil $n\",\"instructions\":\"Tu aides les habitants de $slug.\",\"model\":\"stories\",\"params\":{\"temperature\":0,\"max_tokens\":8}}"
    expect 200 "$editor" POST "/api/v1/assistants/accueil-${n,,}/publish"
    expect 200 "$user" POST /v1/chat/completions \
        "{\"model\":\"accueil-${n,,}\",\"messages\":[{\"role\":\"user\",\"content\":\"Bonjour\"}],\"user\":\"habitant-$n\"}"
    local conv
    conv=$(jq -r .conversation_id "$WORK/resp")
    [ -n "$conv" ] && [ "$conv" != null ] || fail "no conversation_id for $slug"
    printf -v "ADMIN_$n" '%s' "$admin"
    printf -v "EDITOR_$n" '%s' "$editor"
    printf -v "USER_$n" '%s' "$user"
    printf -v "CONV_$n" '%s' "$conv"
}

setup_tenant ville-a A
setup_tenant ville-b B
pass "two tenants, each with keys, a published assistant and a conversation"

# snapshot of B as B sees it
snapshot_b() {
    call "$ADMIN_B" GET /api/v1/assistants; jq -S . "$WORK/resp" >"$WORK/b-assistants"
    call "$ADMIN_B" GET /api/v1/conversations; jq -S . "$WORK/resp" >"$WORK/b-conversations"
    call "$ADMIN_B" GET /api/v1/keys; jq -S '[.data[] | {id, revoked}]' "$WORK/resp" >"$WORK/b-keys"
}
snapshot_b
cp "$WORK/b-assistants" "$WORK/b-assistants.0"
cp "$WORK/b-conversations" "$WORK/b-conversations.0"
cp "$WORK/b-keys" "$WORK/b-keys.0"
call "$ADMIN_B" GET /api/v1/keys
B_KEY_ID=$(jq -r '.data[0].id' "$WORK/resp")

# ---- A's keys on B's objects: 404, nothing changes ----
for k in "$ADMIN_A" "$EDITOR_A"; do
    expect 404 "$k" GET /api/v1/assistants/accueil-b
    expect 404 "$k" PUT /api/v1/assistants/accueil-b '{"slug":"accueil-b","name":"pirate","instructions":"x","model":"stories"}'
    expect 404 "$k" POST /api/v1/assistants/accueil-b/publish
    expect 404 "$k" GET /api/v1/assistants/accueil-b/versions
    expect 404 "$k" POST /api/v1/assistants/accueil-b/versions/1/restore
    expect 404 "$k" DELETE /api/v1/assistants/accueil-b
done
for k in "$ADMIN_A" "$EDITOR_A" "$USER_A"; do
    expect 404 "$k" GET "/api/v1/conversations/$CONV_B"
    expect 404 "$k" DELETE "/api/v1/conversations/$CONV_B"
    expect 404 "$k" GET /api/v1/conversations/conv_guessed000000000000000
    expect 404 "$k" POST /v1/chat/completions '{"model":"accueil-b","messages":[{"role":"user","content":"hi"}]}'
    expect 404 "$k" POST /v1/chat/completions "{\"model\":\"accueil-a\",\"conversation_id\":\"$CONV_B\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
    call "$k" GET /v1/models
    jq -e '[.data[].id] | index("accueil-b") == null' "$WORK/resp" >/dev/null || fail "B's assistant listed for A"
done
expect 404 "$ADMIN_A" DELETE "/api/v1/keys/$B_KEY_ID"
expect 404 "$ADMIN_A" DELETE /api/v1/keys/0123456789ab
call "$ADMIN_A" GET /api/v1/conversations
grep -q "$CONV_B" "$WORK/resp" && fail "B's conversation listed for A"
call "$ADMIN_A" GET /api/v1/conversations?subject=habitant-B
jq -e '.data | length == 0' "$WORK/resp" >/dev/null || fail "subject filter leaks B's conversations"
snapshot_b
for f in b-assistants b-conversations b-keys; do
    cmp -s "$WORK/$f" "$WORK/$f.0" || fail "$f changed after A's attempts"
done
pass "A's keys on B's slugs and ids: 404 and nothing changed"

# ---- the operator cannot read tenant content ----
expect 403 "$OP" GET /api/v1/assistants
expect 403 "$OP" GET /api/v1/assistants/accueil-a
expect 403 "$OP" GET /api/v1/conversations
expect 403 "$OP" GET "/api/v1/conversations/$CONV_A"
call "$OP" GET /v1/models
jq -e '[.data[].id] | (index("accueil-a") == null) and (index("accueil-b") == null)' "$WORK/resp" >/dev/null || fail "operator sees assistants"
pass "the operator manages tenants but reads no tenant content"

# ---- role matrix (docs/roles.md) ----
# columns: operator admin editor user
matrix() { # matrix METHOD PATH BODY S_OP S_ADMIN S_EDITOR S_USER
    local m=$1 p=$2 b=$3
    expect "$4" "$OP" "$m" "$p" "$b"
    expect "$5" "$ADMIN_A" "$m" "$p" "$b"
    expect "$6" "$EDITOR_A" "$m" "$p" "$b"
    expect "$7" "$USER_A" "$m" "$p" "$b"
}
matrix GET /api/v1/tenants "" 200 403 403 403
matrix POST /api/v1/tenants '{"admin_key":true,"slug":"x-1"}' 201 403 403 403
matrix DELETE /api/v1/tenants/x-1 "" 200 403 403 403
matrix GET /api/v1/keys "" 200 200 403 403
matrix GET /api/v1/assistants "" 403 200 200 403
matrix GET /api/v1/assistants/accueil-a "" 403 200 200 403
matrix GET /api/v1/assistants/accueil-a/versions "" 403 200 200 403
matrix GET /api/v1/conversations "" 403 200 200 200
matrix GET /api/v1/audit "" 200 200 403 403
matrix GET /api/v1/audit/verify "" 200 200 403 403
matrix GET /v1/models "" 200 200 200 200
expect 403 "$EDITOR_A" POST /api/v1/keys '{"role":"admin"}'
expect 403 "$USER_A" POST /api/v1/keys '{"role":"admin"}'
expect 403 "$USER_A" POST /api/v1/assistants '{"slug":"u","name":"u","instructions":"x","model":"stories"}'
expect 403 "$USER_A" POST /api/v1/assistants/accueil-a/publish
pass "role matrix"

# ---- a key restricted to one assistant, and revocation at once ----
call "$EDITOR_A" POST /api/v1/assistants '{"slug":"urbanisme","name":"Urbanisme","instructions":"x","model":"stories","params":{"max_tokens":4}}'
call "$EDITOR_A" POST /api/v1/assistants/urbanisme/publish
call "$ADMIN_A" POST /api/v1/keys '{"role":"user","assistants":["urbanisme"]}'
R=$(jq -r .key "$WORK/resp")
RID=$(jq -r .id "$WORK/resp")
expect 200 "$R" POST /v1/chat/completions '{"model":"urbanisme","messages":[{"role":"user","content":"hi"}]}'
expect 404 "$R" POST /v1/chat/completions '{"model":"accueil-a","messages":[{"role":"user","content":"hi"}]}'
call "$R" GET /v1/models
jq -e '[.data[].id] == ["urbanisme"]' "$WORK/resp" >/dev/null || fail "restricted key lists $(cat "$WORK/resp")"
expect 200 "$ADMIN_A" DELETE "/api/v1/keys/$RID"
expect 401 "$R" GET /v1/models
pass "assistant restriction; revocation takes effect at once"

# ---- a restriction binds user keys only (docs/roles.md) ----
# Editor and admin keys reach every assistant, knowledge base and
# conversation through the management routes (and an admin makes keys): a
# restriction on them is refused, by the API and the CLI alike.
nkeys() { sqlite3 -cmd '.timeout 5000' "$WORK/data/system.db" "SELECT COUNT(*) FROM api_keys"; }
before=$(nkeys)
for role in editor admin; do
    expect 422 "$ADMIN_A" POST /api/v1/keys "{\"role\":\"$role\",\"assistants\":[\"accueil-a\"]}"
    jq -e '.error.param == "assistants" and (.error.message | contains("only '"'"'user'"'"' keys"))' \
        "$WORK/resp" >/dev/null || fail "restricted $role: $(cat "$WORK/resp")"
    rc=0
    "$BIN" key create --data "$WORK/data" --tenant ville-a --role "$role" --assistant accueil-a \
        >"$WORK/out" 2>"$WORK/err" || rc=$?
    [ "$rc" = 2 ] && grep -q "restricts only user keys" "$WORK/err" ||
        fail "cli restricted $role: exit $rc: $(cat "$WORK/out" "$WORK/err")"
done
expect 422 "$OP" POST /api/v1/keys '{"role":"operator","assistants":["accueil-a"]}'
[ "$(nkeys)" = "$before" ] || fail "a refused restriction created a key"
expect 201 "$ADMIN_A" POST /api/v1/keys '{"role":"editor","assistants":[]}' # [] = every assistant
pass "a restriction on an editor, admin or operator key: 422 naming assistants, CLI exit 2"

# Keys an earlier version created that way act as user keys with their
# restriction: chat with their assistants, nothing of the management API.
call "$ADMIN_A" POST /api/v1/keys '{"role":"user","assistants":["accueil-a"]}'
LEG_E=$(jq -r .key "$WORK/resp")
call "$ADMIN_A" POST /api/v1/keys '{"role":"user","assistants":["accueil-a"]}'
LEG_A=$(jq -r .key "$WORK/resp")
sqlite3 -cmd '.timeout 5000' "$WORK/data/system.db" \
    "UPDATE api_keys SET role = 'editor' WHERE id = '${LEG_E:5:12}';
     UPDATE api_keys SET role = 'admin' WHERE id = '${LEG_A:5:12}'"
for k in "$LEG_E" "$LEG_A"; do
    expect 403 "$k" GET /api/v1/assistants
    expect 403 "$k" GET /api/v1/assistants/urbanisme
    expect 403 "$k" POST /api/v1/assistants/urbanisme/publish
    expect 403 "$k" GET /api/v1/knowledge-bases
    expect 403 "$k" POST /api/v1/knowledge-bases/any/search '{"query":"x"}'
    expect 403 "$k" GET /api/v1/keys
    expect 403 "$k" POST /api/v1/keys '{"role":"admin"}'
    expect 403 "$k" GET /api/v1/audit
    expect 403 "$k" POST /api/v1/gdpr/export '{"subject":"habitant-A"}'
    expect 200 "$k" GET /api/v1/me
    jq -e '.role == "user" and .assistants == ["accueil-a"]' "$WORK/resp" >/dev/null ||
        fail "me: $(cat "$WORK/resp")"
    expect 200 "$k" GET /api/v1/conversations
    jq -e '.data | length == 0' "$WORK/resp" >/dev/null || fail "sees others' conversations"
    expect 404 "$k" GET "/api/v1/conversations/$CONV_A"
    expect 404 "$k" POST /v1/chat/completions '{"model":"urbanisme","messages":[{"role":"user","content":"hi"}]}'
    expect 200 "$k" POST /v1/chat/completions '{"model":"accueil-a","messages":[{"role":"user","content":"hi"}]}'
    call "$k" GET /v1/models
    jq -e '[.data[].id] == ["accueil-a"]' "$WORK/resp" >/dev/null || fail "lists $(cat "$WORK/resp")"
done
call "$ADMIN_A" GET /api/v1/keys
jq -e --arg e "${LEG_E:5:12}" --arg a "${LEG_A:5:12}" \
    '[.data[] | select(.id == $e or .id == $a) | .role] == ["user", "user"]' "$WORK/resp" >/dev/null ||
    fail "listed as $(jq -c '[.data[] | {id, role}]' "$WORK/resp")"
pass "a restricted editor or admin key from an earlier version acts as a restricted user key"

# ---- members and access rules (docs/oidc.md): the tenant's admins only ----
expect 201 "$ADMIN_A" POST /api/v1/members '{"email":"agent@ville-a.fr","role":"editor"}'
MEMBER_A=$(jq -r .id "$WORK/resp")
expect 200 "$ADMIN_A" PUT /api/v1/access '{"rules":[{"kind":"domain","value":"ville-a.fr","role":"user"}]}'
for k in "$EDITOR_A" "$USER_A"; do
    expect 403 "$k" GET /api/v1/members
    expect 403 "$k" POST /api/v1/members '{"email":"x@ville-a.fr","role":"admin"}'
    expect 403 "$k" GET /api/v1/access
    expect 403 "$k" PUT /api/v1/access '{"rules":[]}'
done
expect 403 "$OP" GET /api/v1/members
expect 403 "$OP" PUT /api/v1/access '{"rules":[]}'
# B's admin: A's member ids answer like unknown ones, A's rules and members are not B's
expect 404 "$ADMIN_B" PATCH "/api/v1/members/$MEMBER_A" '{"role":"admin"}'
expect 404 "$ADMIN_B" DELETE "/api/v1/members/$MEMBER_A"
expect 200 "$ADMIN_B" GET /api/v1/members
jq -e '.data | length == 0' "$WORK/resp" >/dev/null || fail "B sees members: $(cat "$WORK/resp")"
expect 200 "$ADMIN_B" GET /api/v1/access
jq -e '.rules | length == 0' "$WORK/resp" >/dev/null || fail "B sees rules: $(cat "$WORK/resp")"
expect 200 "$ADMIN_A" GET /api/v1/members
jq -e --arg m "$MEMBER_A" '[.data[] | select(.id == $m and .role == "editor")] | length == 1' \
    "$WORK/resp" >/dev/null || fail "A's member changed: $(cat "$WORK/resp")"
pass "members and access rules: admins of their own tenant only"

# ---- deleting a tenant removes its directory and revokes its keys ----
[ -d "$WORK/data/tenants/ville-b" ] || fail "no tenant directory"
expect 200 "$OP" DELETE /api/v1/tenants/ville-b
[ -e "$WORK/data/tenants/ville-b" ] && fail "tenant directory left behind"
expect 401 "$ADMIN_B" GET /api/v1/keys
expect 401 "$USER_B" GET /v1/models
expect 404 "$OP" DELETE /api/v1/tenants/ville-b
pass "tenant deletion"
echo "t_isolation: all passed"
