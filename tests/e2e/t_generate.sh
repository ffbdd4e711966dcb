#!/usr/bin/env bash
# The assistant generator and shared templates (docs/templates.md), with the
# real binary and stories260K: a draft generated from a knowledge base of
# Markdown documents (CLI and API, nothing stored by the API), its suite of
# questions drawn from the headings applied and run — every sourced case
# passes in degraded mode and with the model; the shipped templates listed
# and instantiated (the draft and its suite created); an operator template
# published, replaced, listed by a tenant, deleted; bad input refused naming
# the field.
source "$(dirname "$0")/lib.sh"

init_data
OPKEY=$KEY
export LIBREAIR_DATA=$WORK/data
unset LIBREAIR_MODEL
ADMIN=$("$BIN" tenant create --admin-key ville --name Ville | tail -n1)
[[ $ADMIN == lair_* ]] || fail "tenant create printed no key"
mkdir -p "$WORK/docs" "$WORK/out"
cat >"$WORK/docs/naissance.md" <<'DOC'
# Acte de naissance

## Demander un acte de naissance

L'acte de naissance se demande à la mairie du lieu de naissance. La demande est gratuite et
peut se faire en ligne, au guichet ou par courrier.

## Délivrance aux héritiers

Les héritiers peuvent obtenir une copie intégrale en justifiant de leur lien de parenté.
DOC
cat >"$WORK/docs/dechets.md" <<'DOC'
# Collecte des déchets

## Horaires de la déchetterie

La déchetterie du Moulin est ouverte du mardi au samedi de 9 h à 18 h.

## Trier ses emballages

Les emballages en plastique, en métal et en carton vont dans le bac jaune.
DOC
"$BIN" kb create --tenant ville demarches --name "Démarches de la mairie" >/dev/null
"$BIN" kb ingest --tenant ville --kb demarches "$WORK/docs" >/dev/null
"$BIN" kb create --tenant ville vide >/dev/null

# ---- CLI: generate, review files, apply, run ----------------------------------
"$BIN" assistant generate --tenant ville --kb demarches --out "$WORK/out" >"$WORK/gen.out" 2>"$WORK/gen.err" ||
    fail "generate: $(cat "$WORK/gen.err")"
SPEC=$WORK/out/assistant-demarches-de-la-mairie.json
SUITE=$WORK/out/assistant-demarches-de-la-mairie.suite.json
[ -f "$SPEC" ] && [ -f "$SUITE" ] || fail "generate wrote: $(cat "$WORK/gen.out")"
jq -e '.name == "Assistant Démarches de la mairie" and .knowledge_bases == ["demarches"]
       and (.starters | length) >= 3 and (.instructions | test("Documents de référence"))
       and (.welcome | length) > 0' "$SPEC" >/dev/null || fail "spec: $(cat "$SPEC")"
jq -e '.starters | index("Comment demander un acte de naissance ?")' "$SPEC" >/dev/null ||
    fail "a verb heading did not become 'Comment … ?': $(jq -c .starters "$SPEC")"
jq -e '[.cases[] | select(.messages[0].content == "Quels sont les horaires de la déchetterie ?")
        | .expect.sources == ["dechets.md"]] == [true]' "$SUITE" >/dev/null ||
    fail "suite: $(jq -c '.cases' "$SUITE")"
jq -e '(.cases | length) >= 4 and all(.cases[]; (.expect.sources | length) == 1)' "$SUITE" >/dev/null ||
    fail "suite cases: $(jq -c '.cases' "$SUITE")"
# deterministic: generating again gives the same bytes
"$BIN" assistant generate --tenant ville --kb demarches >"$WORK/gen2.json" 2>/dev/null
jq -e --slurpfile a "$SPEC" --slurpfile s "$SUITE" '.assistant == $a[0] and .suite == $s[0]' \
    "$WORK/gen2.json" >/dev/null || fail "generation is not deterministic"
pass "assistant generate writes a draft and a suite drawn from the headings"

SLUG=assistant-demarches-de-la-mairie
"$BIN" assistant apply --tenant ville "$SPEC" >/dev/null 2>&1 || fail "apply the generated draft"
"$BIN" eval apply --tenant ville --assistant $SLUG "$SUITE" >/dev/null || fail "eval apply"
"$BIN" eval run --tenant ville --assistant $SLUG --draft --suite documents --json \
    >"$WORK/run1.json" 2>"$WORK/run1.err" || fail "degraded run failed: $(jq -c '[.cases[] | select(.pass|not)]' "$WORK/run1.json" 2>/dev/null) $(tail -3 "$WORK/run1.err")"
jq -e '.pass_rate == 1' "$WORK/run1.json" >/dev/null || fail "degraded pass rate: $(jq -c .pass_rate "$WORK/run1.json")"
"$BIN" eval run --tenant ville --assistant $SLUG --draft --suite documents --json \
    --model "default=$STORIES" >"$WORK/run2.json" 2>"$WORK/run2.err" ||
    fail "run with the model failed: $(jq -c '[.cases[] | select(.pass|not) | {id, reasons}]' "$WORK/run2.json" 2>/dev/null)"
pass "the generated suite passes in degraded mode and with the model ($(jq '.cases | length' "$WORK/run1.json") cases)"

if "$BIN" assistant generate --tenant ville --kb vide 2>"$WORK/err"; then fail "empty base generated"; fi
grep -q "no document" "$WORK/err" || fail "empty base: $(cat "$WORK/err")"

# ---- API ----------------------------------------------------------------------
start_server --model "default=$STORIES" --slots 1 --threads 1
KEY=$ADMIN
before=$(api GET /api/v1/assistants | jq '.data | length')
api POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"name":"Mon assistant","template":"etat-civil"}' >"$WORK/g.json"
[ "$STATUS" = 200 ] || fail "generate: $STATUS $(cat "$WORK/g.json")"
jq -e '.assistant.slug == "mon-assistant" and .assistant.name == "Mon assistant"
       and .assistant.model == "default" and .template == "etat-civil"
       and (.assistant.instructions | startswith("Tu es l'"'"'assistant état civil"))
       and (.assistant.guardrails.refusal | test("état civil"))
       and (.suite.cases | length) >= 4 and .suite.cases[0].expect.sources != []' "$WORK/g.json" >/dev/null ||
    fail "generated: $(cat "$WORK/g.json")"
[ "$(api GET /api/v1/assistants | jq '.data | length')" = "$before" ] || fail "generate stored something"
check() { # METHOD PATH BODY STATUS CODE PARAM
    api "$1" "$2" "$3" >/dev/null
    [ "$STATUS" = "$4" ] || fail "$1 $2 $3: $STATUS $(cat "$WORK/resp")"
    jq -e --arg c "$5" --arg p "$6" '.error.code == $c and (($p == "") or .error.param == $p)' "$WORK/resp" >/dev/null ||
        fail "$1 $2 $3: $(cat "$WORK/resp")"
}
check POST /api/v1/assistants/generate '{"knowledge_bases":"demarches"}' 422 invalid_value knowledge_bases
check POST /api/v1/assistants/generate '{}' 422 missing_field knowledge_bases
check POST /api/v1/assistants/generate '{"knowledge_bases":["nope"]}' 422 unknown_knowledge_base 'knowledge_bases[0]'
check POST /api/v1/assistants/generate '{"knowledge_bases":["demarches","demarches"]}' 422 invalid_value 'knowledge_bases[1]'
check POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"colour":1}' 422 unknown_field colour
check POST /api/v1/assistants/generate '{"knowledge_bases":["vide"]}' 422 no_documents knowledge_bases
check POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"template":"nope"}' 404 template_not_found template
check POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"name":""}' 422 invalid_value name
pass "POST /assistants/generate returns a draft without storing it; bad input names the field"

api GET /api/v1/templates >"$WORK/t.json"
jq -e '[.data[] | select(.shipped) | .name] == ["accueil-mairie","dechets","etat-civil","rh-interne","urbanisme"]' \
    "$WORK/t.json" >/dev/null || fail "templates: $(cat "$WORK/t.json")"
api GET /api/v1/templates/urbanisme | jq -e '.suite.cases | length == 3' >/dev/null || fail "template get"
api POST /api/v1/assistants/from-template '{"template":"etat-civil","slug":"ec","knowledge_bases":["demarches"]}' >"$WORK/ft.json"
[ "$STATUS" = 201 ] || fail "from-template: $STATUS $(cat "$WORK/ft.json")"
jq -e '.assistant.slug == "ec" and .assistant.version == 1 and .assistant.name == "Assistant état civil"
       and .assistant.knowledge_bases == ["demarches"] and .suite.name == "modele" and .suite.cases == 3' \
    "$WORK/ft.json" >/dev/null || fail "from-template: $(cat "$WORK/ft.json")"
api GET /api/v1/assistants/ec/eval-suites | jq -e '.data[0].name == "modele"' >/dev/null || fail "suite not applied"
check POST /api/v1/assistants/from-template '{"template":"etat-civil","slug":"ec"}' 409 assistant_exists slug
check POST /api/v1/assistants/from-template '{"template":"etat-civil"}' 422 missing_field slug
check POST /api/v1/assistants/from-template '{"template":"nope","slug":"x"}' 404 template_not_found template
check POST /api/v1/assistants/from-template '{"template":"dechets","slug":"x","knowledge_bases":["nope"]}' 422 unknown_knowledge_base 'knowledge_bases[0]'
check POST /api/v1/assistants/from-template '{"template":"dechets","slug":"Bad Slug"}' 422 invalid_value slug
check POST /api/v1/templates '{"name":"x"}' 403 forbidden ''
pass "shipped templates listed and instantiated with their suite"

KEY=$OPKEY
TPL='{"name":"piscine","title":"Piscine municipale","assistant":{"instructions":"Tu renseignes sur la piscine.","welcome":"Bonjour !"}}'
api POST /api/v1/templates "$TPL" >/dev/null; [ "$STATUS" = 201 ] || fail "publish: $STATUS $(cat "$WORK/resp")"
api POST /api/v1/templates "$TPL" | jq -e '.outcome == "replaced"' >/dev/null || fail "republish: $(cat "$WORK/resp")"
check POST /api/v1/templates '{"name":"p2","assistant":{"knowledge_bases":["demarches"]}}' 422 unknown_field assistant.knowledge_bases
check POST /api/v1/templates '{"name":"p2","assistant":{"params":{"temperature":9}}}' 422 invalid_value assistant.params.temperature
check POST /api/v1/templates '{"name":"p2","assistant":{},"suite":{"name":"s","cases":[]}}' 422 invalid_value suite.cases
check POST /api/v1/templates '{"name":"P 2","assistant":{}}' 422 invalid_value name
check POST /api/v1/templates '{"name":"etat-civil","assistant":{}}' 409 template_shipped name
KEY=$ADMIN
api GET /api/v1/templates | jq -e '[.data[] | select(.name == "piscine" and (.shipped | not))] | length == 1' >/dev/null ||
    fail "operator template not listed to the tenant: $(cat "$WORK/resp")"
api POST /api/v1/assistants/from-template '{"template":"piscine","slug":"piscine"}' | jq -e '.assistant.name == "Piscine municipale" and .suite == null' >/dev/null ||
    fail "instantiate operator template: $(cat "$WORK/resp")"
KEY=$OPKEY
api DELETE /api/v1/templates/piscine >/dev/null; [ "$STATUS" = 200 ] || fail "delete: $STATUS"
check DELETE /api/v1/templates/piscine '' 404 template_not_found ''
check DELETE /api/v1/templates/etat-civil '' 409 template_shipped ''
api GET /api/v1/audit | jq -e '[.data[] | .action] | index("template.publish") and index("template.delete")' >/dev/null ||
    fail "audit: $(cat "$WORK/resp" | head -c 600)"
pass "operator templates: publish, replace, list, instantiate, delete; bad ones refused naming the field"

# ---- CLI templates ------------------------------------------------------------
echo "$TPL" >"$WORK/tpl.json"
"$BIN" template publish "$WORK/tpl.json" | grep -q "piscine: published" || fail "cli publish"
"$BIN" template list | grep -q "^piscine .*operator" || fail "cli list: $("$BIN" template list)"
echo '{"name":"y","assistant":{"slug":"y"}}' >"$WORK/bad.json"
if "$BIN" template publish "$WORK/bad.json" 2>"$WORK/err"; then fail "bad template published"; fi
grep -q "invalid field 'assistant.slug'" "$WORK/err" || fail "cli bad: $(cat "$WORK/err")"
"$BIN" template delete piscine | grep -q "piscine: deleted" || fail "cli delete"
pass "libreair template list|publish|delete"
