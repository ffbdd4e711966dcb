#!/usr/bin/env bash
# A generated evaluation suite for ../shared/data/spf (issue 17, "what it must
# show"; docs/templates.md, "How good are generated questions"): a tenant, a
# knowledge base holding the corpus as one text file per service-public.fr
# page (its passages in order, <doc_id>.txt), the generator's draft and suite
# (POST /api/v1/assistants/generate), then for each generated question:
#   - the search API (POST /api/v1/knowledge-bases/spf/search, top_k 5):
#     is the question's expected document among the top 5 results?
#   - an evaluation run of the suite against the applied draft (libreair eval
#     run, without a model: degraded mode, the sources are retrieval's, top_k
#     5 chunks, none dropped to fit a context): the share of cases whose
#     expected source is cited (their pass rate).
# The server serves stories260K as "default" only because a draft must name
# a model the server serves; the questions come from the documents alone.
# Prints both shares, the number of questions and a few examples; the raw
# files stay in bench/out/eval-spf/.
#
#   bench/eval_spf_generated.sh            (LAIR_BUILD: the build folder, default build/)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/bench/lib.sh"
LAIR=${LAIR_BUILD:-$root/build}/libreair
SHARED=${LAIR_SHARED:-$root/../shared}
OUT=$root/bench/out/eval-spf
corpus=$SHARED/data/spf/corpus.jsonl
log() { printf '[bench/eval-spf %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for t in node curl jq; do command -v "$t" >/dev/null || die "'$t' is missing"; done
[ -x "$LAIR" ] || die "$LAIR is not built"
[ -f "$corpus" ] || die "no $corpus (set LAIR_SHARED)"

rm -rf "$OUT"
mkdir -p "$OUT/docs"
log "writing one <doc_id>.txt per page"
node -e '
    const fs = require("fs"), path = require("path");
    const [corpus, dir] = process.argv.slice(1);
    const docs = new Map();
    for (const l of fs.readFileSync(corpus, "utf8").split("\n")) {
        if (!l) continue;
        const p = JSON.parse(l);
        if (!/^[A-Za-z0-9_.-]+$/.test(p.doc_id)) throw new Error("unexpected doc id " + p.doc_id);
        if (!docs.has(p.doc_id)) docs.set(p.doc_id, []);
        docs.get(p.doc_id).push(p.text);
    }
    for (const [id, texts] of docs) fs.writeFileSync(path.join(dir, id + ".txt"), texts.join("\n\n") + "\n");
    console.error(docs.size + " pages");' "$corpus" "$OUT/docs"

export LIBREAIR_DATA=$OUT/data
unset LIBREAIR_MODEL
"$LAIR" init >/dev/null
KEY=$("$LAIR" tenant create --admin-key ville --name Ville | tail -n1)
"$LAIR" kb create --tenant ville spf --name "Service-Public.fr" >/dev/null
log "ingesting $(ls "$OUT/docs" | wc -l) files"
t0=$(date +%s.%N)
"$LAIR" kb ingest --tenant ville --kb spf "$OUT/docs" >"$OUT/ingest.log" 2>&1 || die "ingest: $(tail -c 400 "$OUT/ingest.log")"
log "ingested in $(echo "$(date +%s.%N) - $t0" | bc) s"

"$LAIR" serve --listen 127.0.0.1:0 --model "default=$SHARED/models/stories260K.gguf" >"$OUT/server.out" 2>"$OUT/server.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
URL=$(lair_wait_ready "$OUT/server.out" "$pid") || die "serve did not become ready: $(tail -c 300 "$OUT/server.log")"
api() { # METHOD PATH [BODY] -> body on stdout; fails on a non-2xx
    curl -sS -f -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
        ${3:+--data-binary "$3"} "$URL$2"
}

log "generating the draft and its suite"
api POST /api/v1/assistants/generate '{"knowledge_bases": ["spf"], "model": "default"}' >"$OUT/generated.json" ||
    die "generate"
jq .suite "$OUT/generated.json" >"$OUT/suite.json"
jq .assistant "$OUT/generated.json" >"$OUT/assistant.json"
n=$(jq '.cases | length' "$OUT/suite.json")
[ "$n" -gt 0 ] || die "the generated suite has no case"

log "searching each of the $n questions (top 5)"
jq -c '.cases[] | {id, q: .messages[-1].content, doc: .expect.sources[0]}' "$OUT/suite.json" >"$OUT/cases.jsonl"
hits=0
: >"$OUT/search.jsonl"
while IFS= read -r c; do
    q=$(jq -r .q <<<"$c")
    doc=$(jq -r .doc <<<"$c")
    body=$(jq -cn --arg q "$q" '{query: $q, top_k: 5}')
    top=$(api POST /api/v1/knowledge-bases/spf/search "$body" | jq -c '[.results[].document]')
    hit=$(jq --arg d "$doc" 'index($d) != null' <<<"$top")
    [ "$hit" = true ] && hits=$((hits + 1))
    jq -cn --argjson c "$c" --argjson top "$top" --argjson hit "$hit" '$c + {top: $top, hit: $hit}' >>"$OUT/search.jsonl"
done <"$OUT/cases.jsonl"

kill "$pid"
wait "$pid" 2>/dev/null || true
log "an evaluation run of the suite against the draft (degraded mode: retrieval's sources)"
slug=$(jq -r .slug "$OUT/assistant.json")
"$LAIR" assistant apply --tenant ville "$OUT/assistant.json" >/dev/null 2>&1 || die "apply the draft"
"$LAIR" eval apply --tenant ville --assistant "$slug" "$OUT/suite.json" >/dev/null || die "apply the suite"
set +e
"$LAIR" eval run --tenant ville --assistant "$slug" --draft --suite documents --parallel 4 --json \
    >"$OUT/run.json" 2>"$OUT/run.log"
rc=$?
set -e
[ $rc = 0 ] || [ $rc = 3 ] || die "eval run: exit $rc $(tail -c 300 "$OUT/run.log")"

echo "spf: $(ls "$OUT/docs" | wc -l) pages; generated suite: $n questions"
echo "search API, expected document in the top 5: $hits / $n = $(jq -n "$hits / $n * 1000 | round / 10")%"
jq -r '"evaluation run \(.id) (degraded mode, top_k 5), expected source cited: \(.passed) / \(.total) = \(.pass_rate * 1000 | round / 10)%"' "$OUT/run.json"
echo "examples:"
head -n 5 "$OUT/search.jsonl" | jq -r '"  \(if .hit then "hit " else "miss" end) \(.doc): \(.q)"'
