#!/usr/bin/env bash
# No silent breakage (issue 15, item 3): a knowledge base that a published
# assistant answers from cannot be deleted by mistake. DELETE answers 409
# "in_use" naming the assistants and changes nothing (the base, its
# documents and the assistant's grounded answers stay); `libreair kb delete`
# refuses the same way; ?force=true (--force) deletes it; a base used only by
# a draft or by nobody is deleted at once. Real server, real inference.
source "$(dirname "$0")/lib.sh"

init_data
start_server --model "stories=$STORIES" --slots 1 --ctx 2048 --threads 1
OP=$KEY
api POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"Ville A"}' >/dev/null
[ "$STATUS" = 201 ] || fail "create tenant: $STATUS"
KEY=$(jq -r .admin_key "$WORK/resp")

kb() { # SLUG FILE TEXT: a base with one document, ingested
    api POST /api/v1/knowledge-bases "{\"slug\":\"$1\"}" >/dev/null
    [[ $STATUS == 20? ]] || fail "create $1: $STATUS $(cat "$WORK/resp")"
    printf '%s\n' "$3" >"$WORK/$2"
    STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
        -F "file=@$WORK/$2" "$URL/api/v1/knowledge-bases/$1/documents")
    [[ $STATUS == 20? ]] || fail "upload to $1: $STATUS $(cat "$WORK/resp")"
    local job state
    job=$(jq -r .job_id "$WORK/resp")
    for _ in $(seq 1 300); do
        state=$(api GET "/api/v1/jobs/$job" | jq -r .state)
        [ "$state" = done ] || [ "$state" = failed ] && break
        sleep 0.1
    done
    [ "$state" = done ] || fail "ingestion into $1: $state"
}
kb demarches naissance.txt "L'acte de naissance se demande à la mairie du lieu de naissance."
kb brouillon dechets.txt "La déchetterie est ouverte le samedi matin."
kb orpheline cantine.txt "L'inscription à la cantine se fait en mairie."

api POST /api/v1/assistants '{"slug":"etat-civil","model":"stories","instructions":"Tu réponds.","knowledge_bases":["demarches"]}' >/dev/null
[ "$STATUS" = 201 ] || fail "assistant: $STATUS $(cat "$WORK/resp")"
api POST /api/v1/assistants/etat-civil/publish '{}' >/dev/null
[ "$STATUS" = 200 ] || fail "publish: $STATUS"
api POST /api/v1/assistants '{"slug":"accueil","model":"stories","instructions":"Tu réponds.","knowledge_bases":["demarches"]}' >/dev/null
api POST /api/v1/assistants/accueil/publish '{}' >/dev/null
# a draft that uses "brouillon" but was never published with it
api POST /api/v1/assistants '{"slug":"essai","model":"stories","instructions":"Tu réponds.","knowledge_bases":["brouillon"]}' >/dev/null
[ "$STATUS" = 201 ] || fail "draft assistant: $STATUS"

ask() {
    STATUS=$(curl -sS -o "$WORK/chat" -w '%{http_code}' -H "Authorization: Bearer $KEY" \
        -H 'Content-Type: application/json' \
        --data-binary '{"model":"etat-civil","messages":[{"role":"user","content":"Où demander un acte de naissance ?"}],"max_tokens":8,"temperature":0}' \
        "$URL/v1/chat/completions")
}
ask
[ "$STATUS" = 200 ] || fail "chat before: $STATUS $(cat "$WORK/chat")"
jq -e '.sources | length >= 1' "$WORK/chat" >/dev/null || fail "grounded before: $(cat "$WORK/chat")"

# ---- the API refuses, naming both assistants, and nothing changes ----
api DELETE /api/v1/knowledge-bases/demarches >/dev/null
[ "$STATUS" = 409 ] || fail "DELETE a used base: wanted 409, got $STATUS $(cat "$WORK/resp")"
jq -e '.error.code == "in_use" and .error.assistants == ["accueil","etat-civil"] and
       (.error.message | test("accueil, etat-civil") and test("force=true"))' "$WORK/resp" >/dev/null ||
    fail "409 body: $(cat "$WORK/resp")"
for force in false 1 yes; do
    api DELETE "/api/v1/knowledge-bases/demarches?force=$force" >/dev/null
    [ "$STATUS" = 409 ] || fail "force=$force is not force=true: $STATUS"
done
api GET /api/v1/knowledge-bases/demarches >/dev/null
jq -e '.documents == 1' "$WORK/resp" >/dev/null || fail "the base changed: $(cat "$WORK/resp")"
ask
jq -e '.sources | length >= 1' "$WORK/chat" >/dev/null || fail "grounded after the refusal: $(cat "$WORK/chat")"
api GET /api/v1/audit >/dev/null
jq -e 'any(.data[]; .action == "kb.delete" and .target == "kb:demarches" and .outcome == "denied")' \
    "$WORK/resp" >/dev/null || fail "refusal audited: $(cat "$WORK/resp")"
pass "DELETE of a base two published assistants use: 409 in_use naming them, base and answers intact, audited"

# ---- the CLI refuses the same way ----
"$BIN" kb delete --tenant ville-a --data "$WORK/data" demarches 2>"$WORK/cli.err" &&
    fail "kb delete of a used base without --force succeeded"
grep -q "accueil, etat-civil" "$WORK/cli.err" || fail "CLI message: $(cat "$WORK/cli.err")"
api GET /api/v1/knowledge-bases/demarches >/dev/null
[ "$STATUS" = 200 ] || fail "the CLI deleted it anyway"
pass "libreair kb delete refuses too, naming the assistants"

# ---- unused or draft-only bases go at once; --force and ?force=true delete ----
api DELETE /api/v1/knowledge-bases/orpheline >/dev/null
[ "$STATUS" = 200 ] || fail "DELETE an unused base: $STATUS $(cat "$WORK/resp")"
"$BIN" kb delete --tenant ville-a --data "$WORK/data" brouillon >/dev/null ||
    fail "CLI delete of a base only a draft uses"
api DELETE '/api/v1/knowledge-bases/demarches?force=true' >/dev/null
[ "$STATUS" = 200 ] || fail "DELETE ?force=true: $STATUS $(cat "$WORK/resp")"
api GET /api/v1/knowledge-bases/demarches >/dev/null
[ "$STATUS" = 404 ] || fail "forced delete left the base: $STATUS"
ask
[ "$STATUS" = 200 ] || fail "chat after the forced delete: $STATUS $(cat "$WORK/chat")"
jq -e '(.sources // []) | length == 0' "$WORK/chat" >/dev/null || fail "sources of a deleted base: $(cat "$WORK/chat")"
pass "unused and draft-only bases deleted at once; ?force=true deletes a used one"
