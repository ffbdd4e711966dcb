#!/usr/bin/env bash
# Headings (issue 18, item 2: "document title and heading path weighted above
# body text"): the dev passages of ../shared/data have no headings, so this
# rebuilds the service-public.fr fiches as whole Markdown documents with
# their section headings (bench/rag/fiches.mjs) and measures, through the
# product's real paths, what weighting a chunk's heading path does:
#
#   bench/rag/headings.sh            # about 2 minutes on 2 cores
#
# One server, two tenants (BM25 statistics are per tenant): "txt" holds the
# fiches as plain text (no headings: chunks cut by size only), "md" the same
# text as Markdown (chunks cut at headings, the heading path indexed as its
# own column of chunks_fts). The 333 spf dev questions are searched in each
# (top_k 10; a hit is a chunk of the question's fiche), then in "md" again on
# servers started with LIBREAIR_HEAD_WEIGHT (src/rag/fts.h) 0.5, 1.5, 2 and
# 3 on the same data. Prints the table and writes bench/out/rag-headings/.
# Environment: LAIR_BUILD (default build/), LAIR_SHARED (default ../shared).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/bench/lib.sh"
BUILD=${LAIR_BUILD:-$root/build}
SHARED=${LAIR_SHARED:-$root/../shared}
LAIR=$BUILD/libreair
OUT=$root/bench/out/rag-headings
log() { printf '[bench/rag/headings %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for t in node curl jq; do command -v "$t" >/dev/null || die "'$t' is missing"; done
[ -x "$LAIR" ] || die "$LAIR is not built; run: make"
[ -f "$SHARED/data/spf/corpus.jsonl" ] || die "no $SHARED/data/spf/corpus.jsonl (set LAIR_SHARED)"

rm -rf "$OUT"
mkdir -p "$OUT"
node "$root/bench/rag/fiches.mjs" "$SHARED/data/spf/corpus.jsonl" "$SHARED/data/spf/questions-dev.jsonl" \
    "$OUT/fiches" >"$OUT/fiches.json" || die "fiches.mjs"
log "fiches: $(cat "$OUT/fiches.json")"

pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap stop EXIT
data=$OUT/data
op_key=$("$LAIR" init --data "$data" 2>"$OUT/init.log" | tail -n1)
[[ $op_key == lair_* ]] || die "libreair init printed no key: $(tail -c 300 "$OUT/init.log")"
start() { # [VAR=value]
    stop
    : >"$OUT/server.out"
    env -u LIBREAIR_MODEL "$@" "$LAIR" serve --data "$data" --listen 127.0.0.1:0 >"$OUT/server.out" 2>>"$OUT/server.log" &
    pid=$!
    base=$(lair_wait_ready "$OUT/server.out" "$pid") ||
        die "libreair serve did not become ready: $(tail -c 300 "$OUT/server.log")"
}
post() { # key path json
    curl -sS -o "$OUT/resp.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' --data-binary "$3" "$base$2"
}
declare -A keys
start LIBREAIR_HEAD_WEIGHT=1
for f in txt md; do
    st=$(post "$op_key" /api/v1/tenants "{\"admin_key\":true,\"slug\":\"head-$f\",\"name\":\"Headings $f\"}")
    keys[$f]=$(jq -r '.admin_key // empty' "$OUT/resp.json")
    [[ $st == 20? && ${keys[$f]} == lair_* ]] || die "tenant creation answered $st: $(cat "$OUT/resp.json")"
    st=$(post "${keys[$f]}" /api/v1/knowledge-bases "{\"slug\":\"fiches\",\"name\":\"fiches\"}")
    [[ $st == 20? ]] || die "knowledge base creation answered $st: $(cat "$OUT/resp.json")"
    log "$f: ingesting $(ls "$OUT/fiches/$f" | wc -l) fiches"
    node "$root/bench/rag/client.mjs" upload --base "$base" --key "${keys[$f]}" --kb fiches \
        --dir "$OUT/fiches/$f" >"$OUT/ingest-$f.json" 2>"$OUT/ingest-$f.log" || die "$f: ingestion: $(tail -c 400 "$OUT/ingest-$f.log")"
done
search() { # format weight
    log "$1: searching (heading weight $2)"
    node "$root/bench/rag/client.mjs" search --base "$base" --key "${keys[$1]}" --kb fiches \
        --questions "$OUT/fiches/questions.jsonl" --out "$OUT/$1-$2.run" 2>"$OUT/search.log" ||
        die "search: $(tail -c 400 "$OUT/search.log")"
    node "$root/bench/rag/eval.mjs" "$OUT/fiches/questions.jsonl" "$OUT/$1-$2.run" >"$OUT/$1-$2.json" || die "eval.mjs"
}
search txt 1
search md 1
for w in 0.5 1.5 2 3; do
    start LIBREAIR_HEAD_WEIGHT=$w
    search md "$w"
done
stop
{
    echo "# Heading weight (bench/rag/headings.sh), $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "spf fiches as whole documents: $(cat "$OUT/fiches.json"); 333 dev questions, a hit is a chunk of the question's fiche."
    echo
    echo "| documents | heading weight | R@1 | R@5 | R@10 | MRR@10 | search p50 ms | search p99 ms |"
    echo "|---|---|---|---|---|---|---|---|"
    for r in txt-1 md-0.5 md-1 md-1.5 md-2 md-3; do
        jq -r --arg r "$r" '"| \(if ($r|startswith("txt")) then "plain text (no headings)" else "Markdown, headings" end) | \($r|split("-")[1]) | \(.r1*1000|round/1000) | \(.r5*1000|round/1000) | \(.r10*1000|round/1000) | \(.mrr10*1000|round/1000) | \(.p50_ms*100|round/100) | \(.p99_ms*100|round/100) |"' "$OUT/$r.json"
    done
} | tee "$OUT/results.md"
