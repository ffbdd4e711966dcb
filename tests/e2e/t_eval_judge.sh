#!/usr/bin/env bash
# The rubric judge (docs/evaluation.md): a case's rubric is graded by the
# judge model the operator names, after the deterministic checks. Without a
# judge the case fails "not graded"; stories260K as the judge answers
# nonsense, which the strict reading fails as "unreadable"; a STAND-IN judge
# (tests/e2e/lib/judge_upstream.mjs, an upstream that always answers
# "OUI\nbonne réponse") makes the pass path testable through the API. Also
# the chart: GET .../eval-chart.svg is an inert SVG with a title and a
# description, GET .../eval-chart.json the same numbers.
source "$(dirname "$0")/lib.sh"

init_data
export LIBREAIR_DATA=$WORK/data
unset LIBREAIR_MODEL
ADMIN=$("$BIN" tenant create --admin-key ville --name Ville | tail -n1)
mkdir -p "$WORK/docs"
cat >"$WORK/docs/naissance.txt" <<'DOC'
Acte de naissance

L'acte de naissance se demande à la mairie du lieu de naissance. La demande est gratuite.
DOC
"$BIN" kb create --tenant ville demarches >/dev/null
"$BIN" kb ingest --tenant ville --kb demarches "$WORK/docs" >/dev/null
cat >"$WORK/ec.json" <<'JSON'
{"slug": "etat-civil", "name": "État civil", "model": "default",
 "instructions": "Tu réponds aux questions des habitants sur l'état civil.",
 "params": {"max_tokens": 16}, "knowledge_bases": ["demarches"], "citations": "required",
 "guardrails": {"refusal": "Je ne peux répondre qu'aux questions d'état civil."}}
JSON
"$BIN" assistant apply --tenant ville --publish "$WORK/ec.json" >/dev/null 2>&1

# ---- the rubric in the suite file ---------------------------------------------
cat >"$WORK/bad.json" <<'JSON'
{"name": "juge", "cases": [{"id": "a", "question": "q", "expect": {"rubric": ""}}]}
JSON
if "$BIN" eval apply --tenant ville --assistant etat-civil "$WORK/bad.json" 2>"$WORK/err"; then
    fail "an empty rubric was applied"
fi
grep -q "cases\[0\].expect.rubric" "$WORK/err" || fail "bad rubric: $(cat "$WORK/err")"
cat >"$WORK/juge.json" <<'JSON'
{"name": "juge", "cases": [
  {"id": "naissance", "category": "faits", "question": "Comment demander un acte de naissance ?",
   "expect": {"sources": ["naissance.txt"],
              "rubric": "La réponse dit que l'acte se demande à la mairie du lieu de naissance."}},
  {"id": "sans-juge", "category": "refus", "question": "Quelle est la recette de la tarte tatin ?",
   "expect": {"refusal": true}}]}
JSON
"$BIN" eval apply --tenant ville --assistant etat-civil "$WORK/juge.json" >/dev/null
"$BIN" eval export --tenant ville --assistant etat-civil juge >"$WORK/exp.json"
jq -e '.cases[0].expect.rubric | startswith("La réponse dit")' "$WORK/exp.json" >/dev/null ||
    fail "export lost the rubric: $(cat "$WORK/exp.json")"
jq -e '.cases[1].expect | has("rubric") | not' "$WORK/exp.json" >/dev/null || fail "rubric added where none"
out=$("$BIN" eval apply --tenant ville --assistant etat-civil "$WORK/exp.json")
[[ $out == *"unchanged, version 1"* ]] || fail "apply of the export: $out"
pass "a rubric is validated, stored and exported"

# ---- without a judge: not graded, the case fails ---------------------------------
set +e
"$BIN" eval run --tenant ville --assistant etat-civil --suite juge --json >"$WORK/r1.json" 2>/dev/null
rc=$?
set -e
[ $rc = 3 ] || fail "no judge: exit $rc"
jq -e '.cases[0].passed == false and .cases[0].judge.verdict == "not_graded"
       and (.cases[0].reasons | any(test("no judge model is configured")))
       and .cases[1].passed == true and (.cases[1] | has("judge") | not)' "$WORK/r1.json" >/dev/null ||
    fail "no judge: $(jq -c .cases "$WORK/r1.json")"
pass "without a judge a rubric case fails 'not graded'; a case without rubric is untouched"

# ---- stories260K as the judge: its answer is unreadable, the case fails -----------
set +e
"$BIN" eval run --tenant ville --assistant etat-civil --suite juge --model "default=$STORIES" \
    --judge "juge=$STORIES" --json >"$WORK/r2.json" 2>"$WORK/r2.err"
rc=$?
set -e
[ $rc = 3 ] || fail "stories judge: exit $rc $(cat "$WORK/r2.err")"
jq -e '.cases[0].judge.verdict == "unreadable" and .cases[0].judge.model == "juge" and .cases[0].passed == false
       and (.cases[0].reasons | any(startswith("judge answer unreadable")))' "$WORK/r2.json" >/dev/null ||
    fail "stories judge: $(jq -c .cases[0] "$WORK/r2.json")"
pass "stories260K as the judge: its answer is unreadable, the case fails"

# ---- a stand-in judge (an upstream that says OUI) through the API -----------------
node "$SRC/tests/e2e/lib/judge_upstream.mjs" "$WORK/judge.log" >"$WORK/judge.out" 2>&1 &
JUDGE_PID=$!
trap 'kill $JUDGE_PID 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 1 100); do grep -q "^listening" "$WORK/judge.out" 2>/dev/null && break; sleep 0.1; done
JURL=$(sed -n 's/^listening //p' "$WORK/judge.out")
[ -n "$JURL" ] || fail "the stand-in judge did not start"
start_server --model "default=$STORIES" --upstream "juge=$JURL/v1,model=judge" --eval-judge juge \
    --slots 2 --ctx 1024 --threads 1
KEY=$ADMIN
api POST /api/v1/assistants/etat-civil/eval-runs '{"suite":"juge","version":"published"}' >/dev/null
[ "$STATUS" = 202 ] || fail "start: $STATUS $(cat "$WORK/resp")"
RUN=$(jq -r .id "$WORK/resp")
for _ in $(seq 1 600); do
    state=$(api GET "/api/v1/assistants/etat-civil/eval-runs/$RUN" | jq -r .state)
    [ "$state" != running ] && break
    sleep 0.2
done
[ "$state" = done ] || fail "run: $state"
jq -e '.cases[0].judge == {"model":"juge","verdict":"pass","reason":"bonne réponse"} and .cases[0].passed == true
       and .passed == 2' "$WORK/resp" >/dev/null || fail "stand-in judge: $(jq -c .cases "$WORK/resp")"
[ "$(wc -l <"$WORK/judge.log")" = 1 ] || fail "the judge was asked $(wc -l <"$WORK/judge.log") times (1 rubric)"
jq -e '.user | contains("<critere>") and contains("mairie du lieu de naissance") and contains("<reponse>")' \
    "$WORK/judge.log" >/dev/null || fail "judge prompt: $(cat "$WORK/judge.log")"
pass "a stand-in judge that says OUI passes the rubric case, asked once, shown the rubric and the answer"

# ---- the chart ---------------------------------------------------------------------
curl -sS -D "$WORK/h" -o "$WORK/chart.svg" -H "Authorization: Bearer $KEY" \
    "$URL/api/v1/assistants/etat-civil/eval-chart.svg"
grep -qi '^content-type: image/svg+xml' "$WORK/h" || fail "chart type: $(cat "$WORK/h")"
grep -q '<title id="eval-chart-title">Taux de réussite' "$WORK/chart.svg" || fail "chart title: $(head -c 400 "$WORK/chart.svg")"
grep -q '<desc id="eval-chart-desc">version 1 : faits 100 %, refus 100 %.</desc>' "$WORK/chart.svg" ||
    fail "chart desc: $(grep -o '<desc.*</desc>' "$WORK/chart.svg")"
grep -qiE '<script|onload|href|<style|style=' "$WORK/chart.svg" && fail "the chart is not inert"
xmllint --noout "$WORK/chart.svg" 2>/dev/null || python3 -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" "$WORK/chart.svg" ||
    fail "the chart is not well-formed XML"
api GET /api/v1/assistants/etat-civil/eval-chart.json |
    jq -e --argjson run "$RUN" '.versions == [{"version":1,"run":$run,"suite":"juge","kind":"suite","published":true,
      "categories":[{"category":"faits","passed":1,"total":1,"pass_rate":1.0},{"category":"refus","passed":1,"total":1,"pass_rate":1.0}]}]' \
    >/dev/null || fail "chart json: $(cat "$WORK/resp")"
curl -sS -o /dev/null -w '%{http_code}' "$URL/api/v1/assistants/etat-civil/eval-chart.svg" | grep -q 401 ||
    fail "the chart without a key"
KEY=$("$BIN" key create --tenant ville --role user | tail -n1)
api GET /api/v1/assistants/etat-civil/eval-chart.svg >/dev/null
[ "$STATUS" = 403 ] || fail "a user key reads the chart: $STATUS"
pass "the chart: inert SVG with title and description, the same numbers in JSON, editors only"
