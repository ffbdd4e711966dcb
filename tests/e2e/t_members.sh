#!/usr/bin/env bash
# A tenant's members and access rules through the API (api/members.c): an
# admin invites a person by email, lists, changes the role and removes them;
# the change that would leave the organisation without an admin is refused
# (409 last_admin) and changes nothing; a removed member's personal key dies
# at once and a demoted member's personal key loses its power at once; the
# access rules are checked field by field (a SIRET's Luhn key, a domain, a
# group), a refused replacement stores nothing; every change is in the
# tenant's audit log, never the person's email; editor, user and operator
# keys get 403; another tenant's admin gets 404 on these ids and never sees
# these members or rules.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server

# refused STATUS PARAM CODE KEY METHOD PATH [BODY]
refused() {
    local want=$1 param=$2 code=$3
    shift 3
    expect "$want" "$@"
    jqr ".error.code == \"$code\" and .error.param == $param"
}

# tenant SLUG -> ADMIN_KEY, ADMIN_KEY_ID
tenant() {
    expect 201 "$OP" POST /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$1\",\"name\":\"$1\"}"
    ADMIN_KEY=$(jq -r .admin_key "$WORK/resp")
    ADMIN_KEY_ID=$(jq -r .admin_key_id "$WORK/resp")
    [[ $ADMIN_KEY == lair_* ]] || fail "tenant $1: no admin key: $(cat "$WORK/resp")"
}
tenant ville-a
A=$ADMIN_KEY
A_ID=$ADMIN_KEY_ID
tenant ville-b
B=$ADMIN_KEY

# ---- invite, list ----
expect 200 "$A" GET /api/v1/members
jqr '.data == []'
expect 201 "$A" POST /api/v1/members '{"email":"Alice.Martin@Ville-A.fr","role":"editor"}'
jqr '.email == "alice.martin@ville-a.fr" and .role == "editor" and .source == "named" and
     .last_login == 0 and .provider == null and (.id | length) == 12 and .created_at > 0'
M1=$(jq -r .id "$WORK/resp")
expect 201 "$A" POST /api/v1/members '{"email":"bob@ville-a.fr","role":"user"}'
M2=$(jq -r .id "$WORK/resp")
refused 409 '"email"' member_exists "$A" POST /api/v1/members '{"email":"alice.martin@ville-a.fr","role":"admin"}'
for body in '{"email":"pas-un-email","role":"user"}' '{"email":"a@b","role":"user"}' \
    '{"email":"x y@ville-a.fr","role":"user"}' '{"email":42,"role":"user"}' '{"role":"user"}' \
    "{\"email\":\"$(printf 'a%.0s' {1..250})@ville-a.fr\",\"role\":\"user\"}"; do
    refused 422 '"email"' invalid_value "$A" POST /api/v1/members "$body"
done
for role in '"operator"' '"Admin"' '""' 3 null; do
    refused 422 '"role"' invalid_value "$A" POST /api/v1/members "{\"email\":\"c@ville-a.fr\",\"role\":$role}"
done
refused 422 '"team"' unknown_field "$A" POST /api/v1/members '{"email":"c@ville-a.fr","role":"user","team":"x"}'
expect 200 "$A" GET /api/v1/members
jqr "[.data[].id] | sort == ([\"$M1\", \"$M2\"] | sort)"
jqr ".data[] | select(.id == \"$M1\") | .email == \"alice.martin@ville-a.fr\" and .role == \"editor\"
     and has(\"name\") and has(\"last_login\") and has(\"created_at\") and has(\"source\")"
jqr '[.data[].email] | index("c@ville-a.fr") == null'
pass "invite by email (lowercased), list; duplicate 409 member_exists; bad email, role, field 422"

# ---- change the role ----
expect 200 "$A" PATCH "/api/v1/members/$M1" '{"role":"admin"}'
jqr ".id == \"$M1\" and .role == \"admin\""
refused 422 '"role"' invalid_value "$A" PATCH "/api/v1/members/$M1" '{"role":"superuser"}'
refused 422 '"email"' unknown_field "$A" PATCH "/api/v1/members/$M1" '{"role":"user","email":"z@z.fr"}'
expect 200 "$A" GET /api/v1/members
jqr ".data[] | select(.id == \"$M1\") | .role == \"admin\""
for id in AAAAAAAAAAAA nope "$M1$M1"; do
    refused 404 null member_not_found "$A" PATCH "/api/v1/members/$id" '{"role":"user"}'
done
pass "role changed (200, listed); unknown id 404 member_not_found; bad role 422"

# ---- the last admin ----
# The tenant's only admin key becomes Alice's personal key: she is then the
# only admin, and her own key does not count (it would die with her).
sqlite3 -cmd '.timeout 5000' "$WORK/data/system.db" \
    "UPDATE api_keys SET member = '$M1' WHERE id = '$A_ID'"
refused 409 null last_admin "$A" PATCH "/api/v1/members/$M1" '{"role":"editor"}'
refused 409 null last_admin "$A" DELETE "/api/v1/members/$M1"
expect 200 "$A" GET /api/v1/members
jqr ".data[] | select(.id == \"$M1\") | .role == \"admin\""
pass "demoting or removing the last admin: 409 last_admin, nothing changed"

# Another admin key: now Alice can be demoted, and her personal key at once
# acts as an editor (403 on admin routes, still an editor elsewhere).
expect 201 "$A" POST /api/v1/keys '{"role":"admin","name":"second admin"}'
A2=$(jq -r .key "$WORK/resp")
expect 201 "$A2" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$A2" POST /api/v1/keys '{"role":"user"}'
USER=$(jq -r .key "$WORK/resp")
expect 200 "$A2" PATCH "/api/v1/members/$M1" '{"role":"editor"}'
jqr '.role == "editor"'
expect 403 "$A" GET /api/v1/members
expect 200 "$A" GET /api/v1/assistants
pass "a demoted member's personal key loses admin power at once"

# ---- remove ----
expect 200 "$A2" DELETE "/api/v1/members/$M1"
jqr ".id == \"$M1\" and .removed == true"
expect 401 "$A" GET /api/v1/assistants
expect 200 "$A2" GET /api/v1/members
jqr "[.data[].id] == [\"$M2\"]"
refused 404 null member_not_found "$A2" DELETE "/api/v1/members/$M1"
refused 404 null member_not_found "$A2" PATCH "/api/v1/members/$M1" '{"role":"admin"}'
# named again: the same person comes back with the new role
expect 201 "$A2" POST /api/v1/members '{"email":"alice.martin@ville-a.fr","role":"user"}'
jqr '.role == "user"'
M1=$(jq -r .id "$WORK/resp")
pass "removed (200): gone from the list, their personal key revoked at once (401), 404 after"

# ---- roles that may not manage members ----
for key in "$EDITOR" "$USER" "$OP"; do
    expect 403 "$key" GET /api/v1/members
    expect 403 "$key" POST /api/v1/members '{"email":"eve@ville-a.fr","role":"admin"}'
    expect 403 "$key" PATCH "/api/v1/members/$M2" '{"role":"admin"}'
    expect 403 "$key" DELETE "/api/v1/members/$M2"
    expect 403 "$key" GET /api/v1/access
    expect 403 "$key" PUT /api/v1/access '{"rules":[]}'
done
expect 401 "" GET /api/v1/members
expect 200 "$A2" GET /api/v1/members
jqr "[.data[].email] | index(\"eve@ville-a.fr\") == null"
jqr ".data[] | select(.id == \"$M2\") | .role == \"user\""
pass "editor, user and operator keys: 403 on every members and access route; nothing changed"

# ---- access rules ----
GOOD_SIRET=21310555400017 # Luhn key 7
BAD_SIRET=21310555400018
expect 200 "$A2" GET /api/v1/access
jqr '.rules == []'
RULES='{"rules":[{"kind":"siret","value":"'$GOOD_SIRET'","role":"user"},
  {"kind":"domain","value":"Ville-A.FR","role":"editor","provider":"proconnect"},
  {"kind":"group","value":"Agents Urbanisme","role":"user","provider":null}]}'
expect 200 "$A2" PUT /api/v1/access "$RULES"
jqr '.rules | length == 3'
expect 200 "$A2" GET /api/v1/access
jqr '.rules | map(select(.kind == "siret"))[0] | .value == "'$GOOD_SIRET'" and .role == "user" and .provider == null'
jqr '.rules | map(select(.kind == "domain"))[0] | .value == "ville-a.fr" and .role == "editor" and .provider == "proconnect"'
jqr '.rules | map(select(.kind == "group"))[0] | .value == "Agents Urbanisme" and .role == "user"'
cp "$WORK/resp" "$WORK/rules-before"
ok_rule='{"kind":"domain","value":"ville-a.fr","role":"user"}'
bad_put() { # bad_put PARAM CODE RULE: the rule at index 3, after three good ones
    refused 422 "\"$1\"" "$2" "$A2" PUT /api/v1/access \
        "{\"rules\":[$ok_rule,{\"kind\":\"siret\",\"value\":\"$GOOD_SIRET\",\"role\":\"user\"},{\"kind\":\"group\",\"value\":\"g\",\"role\":\"user\"},$3]}"
}
bad_put 'rules[3].value' invalid_value '{"kind":"siret","value":"'$BAD_SIRET'","role":"user"}'
jqr '.error.message | contains("Luhn")'
bad_put 'rules[3].value' invalid_value '{"kind":"siret","value":"2131055540001","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"siret","value":"213 105 554 00017","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"siret","value":21310555400017,"role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"domain","value":"@ville-a.fr","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"domain","value":"localhost","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"group","value":"","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"group","value":"a\nb","role":"user"}'
bad_put 'rules[3].value' invalid_value '{"kind":"domain","value":"VILLE-A.fr","role":"admin"}'
jqr '.error.message | contains("rules[0]")'
bad_put 'rules[3].kind' invalid_value '{"kind":"email","value":"x@ville-a.fr","role":"user"}'
bad_put 'rules[3].role' invalid_value '{"kind":"group","value":"h","role":"operator"}'
bad_put 'rules[3].role' invalid_value '{"kind":"group","value":"h"}'
bad_put 'rules[3].provider' invalid_value '{"kind":"group","value":"h","role":"user","provider":"Pro Connect"}'
bad_put 'rules[3].provider' invalid_value '{"kind":"group","value":"h","role":"user","provider":7}'
bad_put 'rules[3].note' unknown_field '{"kind":"group","value":"h","role":"user","note":"x"}'
bad_put 'rules[3]' invalid_value '"siret"'
refused 422 '"rules"' invalid_value "$A2" PUT /api/v1/access '{"rules":{"kind":"siret"}}'
refused 422 '"rules"' invalid_value "$A2" PUT /api/v1/access '{}'
refused 422 '"extra"' unknown_field "$A2" PUT /api/v1/access '{"rules":[],"extra":1}'
many=$(for i in $(seq 1 101); do printf '{"kind":"group","value":"g%d","role":"user"},' "$i"; done)
refused 422 '"rules"' invalid_value "$A2" PUT /api/v1/access "{\"rules\":[${many%,}]}"
hundred=$(for i in $(seq 1 100); do printf '{"kind":"group","value":"g%d","role":"user"},' "$i"; done)
expect 200 "$A2" PUT /api/v1/access "{\"rules\":[${hundred%,}]}"
jqr '.rules | length == 100'
expect 200 "$A2" PUT /api/v1/access "$RULES"
expect 200 "$A2" GET /api/v1/access
cmp -s "$WORK/resp" "$WORK/rules-before" || fail "rules after a refused PUT: $(cat "$WORK/resp")"
pass "access rules: SIRET Luhn key checked (wrong key 422 rules[3].value, right one stored), domain lowercased, group kept; 100 at most; a refused PUT stores nothing"

# ---- tenant B sees none of it ----
expect 200 "$B" GET /api/v1/members
jqr '.data == []'
expect 200 "$B" GET /api/v1/access
jqr '.rules == []'
for id in "$M1" "$M2"; do
    refused 404 null member_not_found "$B" PATCH "/api/v1/members/$id" '{"role":"admin"}'
    refused 404 null member_not_found "$B" DELETE "/api/v1/members/$id"
done
# the same email in B is another member, with an id of its own
expect 201 "$B" POST /api/v1/members '{"email":"bob@ville-a.fr","role":"admin"}'
MB=$(jq -r .id "$WORK/resp")
[ "$MB" != "$M2" ] || fail "tenant B reused tenant A's member id"
expect 200 "$B" PUT /api/v1/access '{"rules":[{"kind":"domain","value":"ville-b.fr","role":"user"}]}'
refused 404 null member_not_found "$A2" DELETE "/api/v1/members/$MB"
expect 200 "$A2" GET /api/v1/members
jqr "[.data[].id] | sort == ([\"$M1\", \"$M2\"] | sort)"
jqr ".data[] | select(.id == \"$M2\") | .role == \"user\""
expect 200 "$A2" GET /api/v1/access
cmp -s "$WORK/resp" "$WORK/rules-before" || fail "tenant B changed A's rules: $(cat "$WORK/resp")"
pass "tenant B: 404 member_not_found on A's ids, sees neither A's members nor rules; A unchanged"

# ---- audit ----
expect 200 "$A2" GET '/api/v1/audit?limit=1000'
cp "$WORK/resp" "$WORK/audit-a"
jqr "[.data[] | select(.action == \"member.add\" and .target == \"member:$M2\" and .outcome == \"ok\"
      and (.detail | contains(\"role:user\")))] | length == 1"
jqr "[.data[] | select(.action == \"member.role\" and .target == \"member:$M1\"
      and (.detail | contains(\"role:admin\")))] | length == 1"
jqr "[.data[] | select(.action == \"member.role\" and .target == \"member:$M1\"
      and (.detail | contains(\"role:editor\")))] | length == 1"
jqr "[.data[] | select(.action == \"member.remove\" and .target == \"member:$M1\")] | length == 1"
jqr '[.data[] | select(.action == "access.rules" and .outcome == "ok")] | length == 3'
jqr '[.data[] | select(.action == "access.rules")][0].detail | contains("rules:3 siret:1 domain:1 group:1")'
jqr '[.data[] | select(.action == "access.notfound")] | length >= 1'
# the person's email is personal data: it never goes into the log
if grep -qi 'alice\|bob@\|ville-a.fr' "$WORK/audit-a"; then
    fail "an email in the audit log: $(grep -io '.\{60\}\(alice\|bob@\|ville-a.fr\).\{20\}' "$WORK/audit-a" | head -3)"
fi
expect 200 "$A2" GET /api/v1/audit/verify
jqr '.ok == true'
expect 200 "$B" GET '/api/v1/audit?limit=1000'
jqr "[.data[] | select(.target == \"member:$M1\" or .target == \"member:$M2\")] | length == 0"
jqr "[.data[] | select(.action == \"access.notfound\" and .target == \"route:member\")] | length >= 1"
pass "audit: member.add, member.role, member.remove, access.rules in the tenant's log, no email; B's probes in B's log"

# ---- named by subject (a provider whose people have no stable email) ----
expect 201 "$A2" POST /api/v1/members '{"provider":"keycloak-ville","sub":"f3a9-77","role":"editor"}'
jqr '.provider == "keycloak-ville" and .email == "" and .role == "editor" and .source == "named"'
MS=$(jq -r .id "$WORK/resp")
refused 409 '"sub"' member_exists "$A2" POST /api/v1/members '{"provider":"keycloak-ville","sub":"f3a9-77","role":"user"}'
refused 422 '"email"' invalid_value "$A2" POST /api/v1/members '{"email":"d@ville-a.fr","provider":"keycloak-ville","sub":"x","role":"user"}'
refused 422 '"provider"' invalid_value "$A2" POST /api/v1/members '{"sub":"x","role":"user"}'
refused 422 '"sub"' invalid_value "$A2" POST /api/v1/members '{"provider":"keycloak-ville","sub":"","role":"user"}'
refused 422 '"provider"' invalid_value "$A2" POST /api/v1/members '{"provider":"Key Cloak","sub":"x","role":"user"}'
expect 200 "$A2" DELETE "/api/v1/members/$MS"
pass "named by provider and subject; duplicate 409; email and subject together, missing provider, bad sub 422"
