#!/usr/bin/env bash
# Finds the Xapian peer's best configuration on the dev questions, so that
# bench/rag/run.sh compares LibreAIr with Xapian at its best and not at its
# defaults.
#
#   bench/rag/xapian_tune.sh [--set spf|piaf]...     (default: both; ~2 min)
#
# For each set, with elisions split (and, for comparison, kept), indexes the
# passages once per stemming strategy (STEM_SOME, STEM_ALL) and searches the
# dev questions with BM25 for every (k1, b) of a small grid; prints R@5 and
# MRR@10 of each, best R@5 first (MRR@10 breaks ties), and writes the whole
# table to bench/out/rag-tune/tune.md. run.sh's XAPIAN_* defaults are the
# configuration that is best on the two sets together (mean R@5).
# Environment: LAIR_SHARED (default ../shared).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${LAIR_SHARED:-$root/../shared}
OUT=$root/bench/out/rag-tune
K1S=${XAPIAN_TUNE_K1:-0.6,0.9,1.2,1.5,2}
BS=${XAPIAN_TUNE_B:-0.3,0.5,0.75,0.9}
sets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --set) [ $# -ge 2 ] && [[ $2 == spf || $2 == piaf ]] || { echo "xapian_tune.sh: --set spf|piaf" >&2; exit 2; }
               sets+=("$2"); shift 2 ;;
        -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "xapian_tune.sh: unknown option '$1'" >&2; exit 2 ;;
    esac
done
[ ${#sets[@]} -gt 0 ] || sets=(spf piaf)
rm -rf "$OUT"
mkdir -p "$OUT"
g++ -O2 -std=c++17 "$root/bench/rag/xapian_peer.cc" -o "$OUT/xapian_peer" -lxapian -ljansson || exit 1
for s in "${sets[@]}"; do
    q=$SHARED/data/$s/questions-dev.jsonl
    for variant in "some" "all" "some --no-elisions"; do
        tag=${variant// /}
        # shellcheck disable=SC2086
        "$OUT/xapian_peer" --stem $variant --grid "$K1S" "$BS" "$SHARED/data/$s/corpus.jsonl" \
            "$OUT/$s-$tag.db" "$q" "$OUT/$s-$tag.run" >/dev/null || exit 1
        rm -rf "$OUT/$s-$tag.db"
        for f in "$OUT/$s-$tag.run".*; do
            cfg=${f##*.run.}
            node "$root/bench/rag/eval.mjs" "$q" "$f" |
                jq -r --arg s "$s" --arg v "$tag" --arg c "$cfg" '[$s, $v, $c, .r5, .mrr10] | @tsv'
        done
    done
done >"$OUT/tune.tsv"
{
    echo '| set | stemming (elisions) | BM25 | R@5 | MRR@10 |'
    echo '|---|---|---|---|---|'
    sort -t$'\t' -k1,1 -k4,4gr -k5,5gr "$OUT/tune.tsv" |
        awk -F'\t' '{ v = $2; e = "split"; if (v ~ /no-elisions/) { sub(/--no-elisions/, "", v); e = "kept" }
                      printf "| %s | STEM_%s (%s) | %s | %.3f | %.3f |\n", $1, toupper(v), e, $3, $4, $5 }'
    echo
    echo 'Mean R@5 over the sets, best first:'
    awk -F'\t' '{ k = $2 " " $3; s[k] += $4; m[k] += $5; n[k]++ }
        END { for (k in s) printf "%.4f\t%.4f\t%s\t%d\n", s[k] / n[k], m[k] / n[k], k, n[k] }' "$OUT/tune.tsv" |
        sort -gr | head -8
} | tee "$OUT/tune.md"
