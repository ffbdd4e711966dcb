#!/usr/bin/env bash
# The assistant generator uses the model when one is served (issue 17, item
# 6; docs/templates.md): the draft's starter questions are rephrased by the
# draft's model, and fall back to the documents' structure when the model's
# answer is not one question. The "models" are stand-ins
# (tests/e2e/lib/judge_upstream.mjs: an upstream that answers every request
# with a fixed text), so that what the generator keeps or refuses can be
# checked; they are not language models.
source "$(dirname "$0")/lib.sh"

init_data
export LIBREAIR_DATA=$WORK/data
unset LIBREAIR_MODEL
ADMIN=$("$BIN" tenant create --admin-key ville --name Ville | tail -n1)
[[ $ADMIN == lair_* ]] || fail "tenant create printed no key"
mkdir -p "$WORK/docs" "$WORK/out"
cat >"$WORK/docs/naissance.md" <<'DOC'
# Acte de naissance

## Demander un acte de naissance

L'acte de naissance se demande à la mairie du lieu de naissance, en ligne ou au guichet.

## Délivrance aux héritiers

Les héritiers obtiennent une copie intégrale en justifiant de leur lien de parenté.
DOC
cat >"$WORK/docs/dechets.md" <<'DOC'
# Collecte des déchets

## Horaires de la déchetterie

La déchetterie est ouverte du mardi au samedi de 9 h à 18 h.
DOC
"$BIN" kb create --tenant ville demarches --name "Démarches" >/dev/null
"$BIN" kb ingest --tenant ville --kb demarches "$WORK/docs" >/dev/null
# the structural starters, without any model (the command line)
"$BIN" assistant generate --tenant ville --kb demarches --out "$WORK/out" >/dev/null 2>"$WORK/gen.err" ||
    fail "generate: $(cat "$WORK/gen.err")"
jq -c .starters "$WORK/out"/assistant-*.json | grep -v suite | head -n1 >"$WORK/structural"
jq -e 'length >= 2' "$WORK/structural" >/dev/null || fail "structural starters: $(cat "$WORK/structural")"

ANSWER="Comment faire ma demande d'acte de naissance ?"
start_stub() { # start_stub NAME ANSWER -> sets <NAME>_URL
    node "$SRC/tests/e2e/lib/judge_upstream.mjs" "$WORK/$1.log" "$2" >"$WORK/$1.out" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do grep -q "^listening" "$WORK/$1.out" 2>/dev/null && break; sleep 0.1; done
    printf -v "${1}_URL" '%s' "$(sed -n 's/^listening //p' "$WORK/$1.out")"
}
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; cleanup' EXIT
start_stub redac "$ANSWER"
start_stub conteur "Il était une fois un petit lapin."
[ -n "$redac_URL" ] && [ -n "$conteur_URL" ] || fail "the stand-ins did not start"
start_server --model "default=$STORIES" --upstream "redac=$redac_URL/v1,model=judge" \
    --upstream "conteur=$conteur_URL/v1,model=judge" --slots 1 --ctx 512 --threads 1
KEY=$ADMIN

# a model that answers with one question: the first starter takes it; the
# same answer again is a duplicate, refused, so exactly one is rephrased
api POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"model":"redac"}' >"$WORK/g1.json"
[ "$STATUS" = 200 ] || fail "generate: $STATUS $(cat "$WORK/g1.json")"
jq -e --arg a "$ANSWER" '.starters.model == "redac" and .starters.rephrased == 1
       and (.assistant.starters | index($a)) != null' "$WORK/g1.json" >/dev/null ||
    fail "redac: $(jq -c '{starters, s: .assistant.starters}' "$WORK/g1.json")"
grep -q 'Question : ' "$WORK/redac.log" || fail "the model was not asked: $(cat "$WORK/redac.log")"
grep -q 'Document : ' "$WORK/redac.log" || fail "the model was not told the document"
# the suite's questions stay structural (they keep the headings' words)
jq -e --arg a "$ANSWER" '[.suite.cases[].question] | index($a) == null' "$WORK/g1.json" >/dev/null ||
    fail "a suite question was rephrased"
pass "a served model rephrases the starters (one question each, no duplicates); the suite stays structural"

# a model that does not answer with a question: every starter falls back
api POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"model":"conteur"}' >"$WORK/g2.json"
[ "$STATUS" = 200 ] || fail "generate: $STATUS $(cat "$WORK/g2.json")"
jq -e '.starters.model == "conteur" and .starters.rephrased == 0' "$WORK/g2.json" >/dev/null ||
    fail "conteur: $(jq -c .starters "$WORK/g2.json")"
[ "$(jq -c .assistant.starters "$WORK/g2.json")" = "$(cat "$WORK/structural")" ] ||
    fail "fallback starters $(jq -c .assistant.starters "$WORK/g2.json") are not the structural $(cat "$WORK/structural")"
[ -s "$WORK/conteur.log" ] || fail "the model was not asked"
pass "an answer that is not one question keeps the structural starters"

# a model the tenant may not use is not asked
"$BIN" tenant set ville --allowed-models default >/dev/null
: >"$WORK/redac.log"
api POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"model":"default"}' >"$WORK/g3.json"
[ "$STATUS" = 200 ] || fail "generate: $STATUS $(cat "$WORK/g3.json")"
jq -e '.starters.model == "default"' "$WORK/g3.json" >/dev/null || fail "default: $(jq -c .starters "$WORK/g3.json")"
api POST /api/v1/assistants/generate '{"knowledge_bases":["demarches"],"model":"redac"}' >"$WORK/g4.json"
jq -e '.starters.model == null' "$WORK/g4.json" >/dev/null 2>&1 || [ "$STATUS" != 200 ] ||
    fail "a withheld model was used: $(jq -c .starters "$WORK/g4.json")"
[ ! -s "$WORK/redac.log" ] || fail "a model the tenant may not use was asked"
pass "a model the tenant may not use is never asked"
echo "t_generate_model: all passed"
