#!/usr/bin/env bash
# A knowledge base's vocabulary of equivalences through HTTP (issue 18,
# docs/knowledge-bases.md): the default vocabulary lets a citizen's words
# ("papiers", "cantine") find the administration's passage ("pièces
# justificatives", "restauration scolaire"); a tenant's edit takes effect on
# the next search; bad vocabularies are refused with invalid_synonyms (or
# unknown_field) and change nothing; DELETE goes back to the default; roles,
# tenant isolation and the audit events.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server

check() { jq -e "$1" "$WORK/resp" >/dev/null || fail "$2: $(head -c 600 "$WORK/resp")"; }
search() { expect 200 "$EDITOR" POST /api/v1/knowledge-bases/ecoles/search "{\"query\":\"$1\"}"; }

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"B"}'
ADMIN_B=$(jq -r .admin_key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"user"}'
USER=$(jq -r .key "$WORK/resp")
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"ecoles"}'

DOCS=$WORK/docs
mkdir -p "$DOCS"
printf "Inscription à la restauration scolaire : les pièces justificatives sont le livret de famille et une facture de moins de trois mois.\n" >"$DOCS/inscription.txt"
printf "La piscine municipale est ouverte le dimanche matin et le mercredi après-midi.\n" >"$DOCS/piscine.txt"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    -F "file=@$DOCS/inscription.txt" -F "file=@$DOCS/piscine.txt" "$URL/api/v1/knowledge-bases/ecoles/documents")
[ "$STATUS" = 202 ] || fail "upload: $STATUS $(cat "$WORK/resp")"
JOB=$(jq -r .job_id "$WORK/resp")
for i in $(seq 1 600); do
    expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB"
    state=$(jq -r .state "$WORK/resp")
    [ "$state" = done ] && break
    [ "$state" = failed ] && fail "job failed: $(cat "$WORK/resp")"
    sleep 0.1
done
[ "$state" = done ] || fail "job did not end"

# ---- the default vocabulary ----
expect 200 "$EDITOR" GET /api/v1/knowledge-bases/ecoles/synonyms
check '.object == "kb.synonyms" and .kb == "ecoles" and .default == true and .updated_at == null' "default"
check '(.synonyms | length) >= 30 and any(.synonyms[]; index("papiers") != null and index("pièces justificatives") != null)' "default groups"
search "Quels papiers pour la cantine ?"
check '.results[0].document == "inscription.txt"' "a citizen's words find the administration's passage"
pass "default vocabulary: 'papiers pour la cantine' finds 'pièces justificatives … restauration scolaire'"

# ---- an edit takes effect ----
expect 200 "$EDITOR" PUT /api/v1/knowledge-bases/ecoles/synonyms '{"synonyms":[["dossier","pièces justificatives"]]}'
check '.default == false and .synonyms == [["dossier","pièces justificatives"]] and (.updated_at | type) == "number"' "put body"
search "Quels papiers pour la cantine ?"
check '(.results | length) == 0' "the default vocabulary no longer applies"
search "dossier"
check '.results[0].document == "inscription.txt"' "the tenant's group applies"
pass "PUT replaces the vocabulary and the next search uses it"

# ---- bad vocabularies change nothing ----
bad() { # bad BODY CODE PARAM
    expect 422 "$EDITOR" PUT /api/v1/knowledge-bases/ecoles/synonyms "$1"
    check ".error.code == \"$2\" and .error.param == \"$3\"" "refused $1"
    expect 200 "$EDITOR" GET /api/v1/knowledge-bases/ecoles/synonyms
    check '.default == false and .synonyms == [["dossier","pièces justificatives"]]' "unchanged after $1"
}
bad '{"synonyms":"mairie"}' invalid_synonyms synonyms
bad '{"synonyms":[["mairie"]]}' invalid_synonyms 'synonyms[0]'
bad '{"synonyms":[["mairie","hôtel de ville"],["de la","pièces"]]}' invalid_synonyms 'synonyms[1][0]'
bad '{"synonyms":[["mairie",3]]}' invalid_synonyms 'synonyms[0][1]'
bad '{"synonyms":[["mairie","a\u0001b"]]}' invalid_synonyms 'synonyms[0][1]'
bad '{"synonyms":[["mairie","Mairies"]]}' invalid_synonyms 'synonyms[0][1]'
bad '{"synonyms":[["a","b"]],"extra":1}' unknown_field extra
expect 400 "$EDITOR" PUT /api/v1/knowledge-bases/ecoles/synonyms '{"synonyms":['
pass "invalid vocabularies: 422 with the faulty entry's path, nothing changed"

# ---- roles, isolation ----
expect 403 "$USER" PUT /api/v1/knowledge-bases/ecoles/synonyms '{"synonyms":[]}'
expect 403 "$USER" GET /api/v1/knowledge-bases/ecoles/synonyms
expect 404 "$ADMIN_B" GET /api/v1/knowledge-bases/ecoles/synonyms
check '.error.code == "knowledge_base_not_found"' "other tenant"
expect 404 "$ADMIN_B" PUT /api/v1/knowledge-bases/ecoles/synonyms '{"synonyms":[]}'
expect 404 "$EDITOR" GET /api/v1/knowledge-bases/absente/synonyms
pass "user key 403, another tenant's or a missing base 404"

# ---- back to the default; an empty vocabulary turns it off ----
expect 200 "$EDITOR" DELETE /api/v1/knowledge-bases/ecoles/synonyms
check '.default == true and (.synonyms | length) >= 30' "reset"
search "Quels papiers pour la cantine ?"
check '.results[0].document == "inscription.txt"' "default again"
expect 200 "$EDITOR" PUT /api/v1/knowledge-bases/ecoles/synonyms '{"synonyms":[]}'
check '.default == false and .synonyms == []' "empty"
search "Quels papiers pour la cantine ?"
check '(.results | length) == 0' "no vocabulary"
pass "DELETE restores the default; [] applies none"

# ---- audit ----
expect 200 "$ADMIN" GET "/api/v1/audit?limit=1000"
for action in kb.synonyms.update kb.synonyms.reset; do
    jq -e --arg a "$action" '[.data[] | select(.action == $a and .target == "kb:ecoles")] | length > 0' \
        "$WORK/resp" >/dev/null || fail "no audit event $action"
done
pass "audit: kb.synonyms.update and kb.synonyms.reset"
