#!/usr/bin/env bash
# Retrieval benchmark: LibreAIr's knowledge-base search against Xapian, on the
# French evaluation sets of ../shared/data (README there), in one run.
#
#   bench/rag/run.sh [--set spf|piaf]... [--vectors]   (default: both sets)
#
# LibreAIr side, through the product's real paths: `libreair serve` on a
# fresh data folder, a tenant and a knowledge base per set; every passage
# becomes one document <id>.txt holding its text only, uploaded through
# POST /api/v1/knowledge-bases/{slug}/documents (multipart, 250 files per
# request) and indexed by the ingestion jobs (polled on GET /api/v1/jobs/{id});
# each dev question goes through POST /api/v1/knowledge-bases/{slug}/search
# with top_k 10, one at a time on one kept-alive connection.
# Peer: bench/rag/xapian_peer.cc (Xapian, French stemmer and stop words,
# elisions split, BM25, OR query) at the configuration that is best on the
# dev questions (bench/rag/xapian_tune.sh; XAPIAN_ARGS overrides it),
# compiled here with g++, on the same passages and questions.
# Typos: the dev questions are also run with one typo each
# (bench/rag/typos.mjs, seed 18) and with every accent removed, by LibreAIr
# with and without its spelling suggester (a second server started with
# LIBREAIR_SPELL=off on the same data) and by Xapian with and without its
# spelling correction (a second index built with FLAG_SPELLING).
#
# Prints the table (R@1, R@5, R@10, MRR@10, search p50/p99, ingestion MB/s,
# differences and ratios, targets) and writes it to bench/out/rag/results.md;
# raw runs in bench/out/rag/. --vectors adds a hybrid pass on spf: a second
# server with a generated random-weight BERT embedding model (384
# dimensions, 2 layers; ~/.cache/libreair/bench/bert-384.gguf) embeds every
# passage at ingestion and every question at search, and the search fuses
# BM25 with vectors. Random weights make its recall meaningless; what it
# measures is the latency of a hybrid search (question embedding, vector
# scan, fusion) and the vector cache's hits (/metrics), then the same
# searches on a server started with --vector-cache 0, for the ratio.
# Exit status: 0 when everything ran (a MISS is
# not a failure), 1 when something could not run, 2 on a bad option.
# Environment: LAIR_BUILD (default build/), LAIR_SHARED (default ../shared),
# XAPIAN_ARGS (default: --stem all --k1 0.9 --b 0.5), INGEST_RUNS (default 3: best run).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/bench/lib.sh"
BUILD=${LAIR_BUILD:-$root/build}
SHARED=${LAIR_SHARED:-$root/../shared}
# Xapian's best configuration on the dev questions (bench/rag/xapian_tune.sh,
# bench/rag/README.md): STEM_ALL, BM25 k1 0.9, b 0.5, elisions split.
read -r -a XAPIAN_ARGS <<<"${XAPIAN_ARGS:---stem all --k1 0.9 --b 0.5}"
# ingestion runs per side (the best is reported; see below)
INGEST_RUNS=${INGEST_RUNS:-3}
LAIR=$BUILD/libreair
OUT=$root/bench/out/rag
sets=()
vectors=0
while [ $# -gt 0 ]; do
    case "$1" in
        --set) [ $# -ge 2 ] && [[ $2 == spf || $2 == piaf ]] || { echo "bench/rag/run.sh: --set spf|piaf" >&2; exit 2; }
               sets+=("$2"); shift 2 ;;
        --vectors) vectors=1; shift ;;
        -h | --help) sed -n '2,38p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/rag/run.sh: unknown option '$1' (--set, --vectors, --help)" >&2; exit 2 ;;
    esac
done
[ ${#sets[@]} -gt 0 ] || sets=(spf piaf)

log() { printf '[bench/rag %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for t in node curl jq g++; do command -v "$t" >/dev/null || die "'$t' is missing (apt-get install $t)"; done
[ -x "$LAIR" ] || die "$LAIR is not built; run: make"
for s in "${sets[@]}"; do
    [ -f "$SHARED/data/$s/corpus.jsonl" ] || die "no $SHARED/data/$s/corpus.jsonl (set LAIR_SHARED)"
done

rm -rf "$OUT"
mkdir -p "$OUT"
cmds=$OUT/commands.txt
: >"$cmds"

# ---- the peer --------------------------------------------------------------
log "compiling bench/rag/xapian_peer.cc"
printf '%s\n' "g++ -O2 -std=c++17 bench/rag/xapian_peer.cc -o $OUT/xapian_peer -lxapian -ljansson" >>"$cmds"
g++ -O2 -std=c++17 "$root/bench/rag/xapian_peer.cc" -o "$OUT/xapian_peer" -lxapian -ljansson 2>"$OUT/xapian-build.log" ||
    die "cannot build the Xapian peer (apt-get install libxapian-dev): $(tail -c 300 "$OUT/xapian-build.log")"

# ---- the documents: one file per passage -------------------------------------
for s in "${sets[@]}"; do
    log "$s: writing one <id>.txt per passage"
    mkdir -p "$OUT/$s/docs"
    node -e '
        const fs = require("fs"), path = require("path");
        const [corpus, dir] = process.argv.slice(1);
        for (const l of fs.readFileSync(corpus, "utf8").split("\n")) {
            if (!l) continue;
            const p = JSON.parse(l);
            if (!/^[A-Za-z0-9_.-]+$/.test(p.id)) throw new Error("unexpected passage id " + p.id);
            fs.writeFileSync(path.join(dir, p.id + ".txt"), p.text);
        }' "$SHARED/data/$s/corpus.jsonl" "$OUT/$s/docs" || die "$s: cannot write the documents"
    # the question variants: clean (the dev questions), one typo each, no accents
    cp "$SHARED/data/$s/questions-dev.jsonl" "$OUT/$s/questions-clean.jsonl"
    printf '%s\n' "node bench/rag/typos.mjs --seed 18 $SHARED/data/$s/questions-dev.jsonl > $OUT/$s/questions-typos.jsonl" >>"$cmds"
    node "$root/bench/rag/typos.mjs" --seed 18 "$SHARED/data/$s/questions-dev.jsonl" \
        >"$OUT/$s/questions-typos.jsonl" 2>"$OUT/$s/typos.log" || die "$s: typos.mjs"
    node "$root/bench/rag/typos.mjs" --no-accents "$SHARED/data/$s/questions-dev.jsonl" \
        >"$OUT/$s/questions-noaccents.jsonl" || die "$s: typos.mjs --no-accents"
done
variants=(clean typos noaccents)

# ---- LibreAIr ----------------------------------------------------------------
pid=
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" 2>/dev/null
    fi
}
trap cleanup EXIT
data=$OUT/data
printf '%s\n' "$LAIR init --data $data" >>"$cmds"
op_key=$("$LAIR" init --data "$data" 2>"$OUT/init.log" | tail -n1)
[[ $op_key == lair_* ]] || die "libreair init printed no key: $(tail -c 300 "$OUT/init.log")"
start_lair() { # extra serve arguments...
    printf '%s\n' "${LAIR_ENV:+$LAIR_ENV }$LAIR serve --data $data --listen 127.0.0.1:0 $*" >>"$cmds"
    env -u LIBREAIR_MODEL ${LAIR_ENV:-} "$LAIR" serve --data "$data" --listen 127.0.0.1:0 "$@" >"$OUT/server.out" 2>>"$OUT/server.log" &
    pid=$!
    base=$(lair_wait_ready "$OUT/server.out" "$pid") ||
        die "libreair serve did not become ready: $(tail -c 300 "$OUT/server.log")"
}
start_lair
# CPU accounting, to tell a quiet measurement from a noisy one (as in
# bench/run.sh): the share of the machine's CPU time used during the search
# phase by processes other than the server and this script's children.
cpu_ticks() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6; exit}' /proc/stat; }
proc_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || echo; } | awk '{print ($12+$13)+0}'; }
child_ticks() {
    times >"$OUT/.times"
    CT=$(tail -n1 "$OUT/.times" | awk -v hz="$(getconf CLK_TCK)" '{
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
        printf "%d\n", s * hz }')
}
noise_start() {
    read -r nb0 nt0 < <(cpu_ticks)
    np0=$(proc_ticks "$pid")
    child_ticks
    nc0=$CT
}
noise_end() { # file
    local nb1 nt1 np1
    read -r nb1 nt1 < <(cpu_ticks)
    np1=$(proc_ticks "$pid")
    child_ticks
    awk -v b=$((nb1 - nb0)) -v t=$((nt1 - nt0)) -v p=$((np1 - np0)) -v c=$((CT - nc0)) \
        -v l="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
        if (t <= 0) t = 1
        f = (b - p - c) / t; if (f < 0) f = 0
        printf "{\"foreign\":%.3f,\"server\":%.3f,\"client\":%.3f,\"load\":%s}\n", f, p / t, c / t, l }' >"$1"
}
post() { # key path json
    curl -sS -o "$OUT/resp.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' --data-binary "$3" "$base$2"
}
# run_set SET TENANT DIR: a tenant and a knowledge base, the uploads, the
# searches; results in DIR (ingest.json, libreair.run, noise.json)
run_set() {
    local s=$1 tenant=$2 dir=$3
    mkdir -p "$dir"
    # one tenant per set: a tenant's full-text index (and so its BM25
    # statistics) holds all its knowledge bases
    st=$(post "$op_key" /api/v1/tenants "{\"admin_key\":true,\"slug\":\"$tenant\",\"name\":\"Benchmark $s\"}")
    key=$(jq -r '.admin_key // empty' "$OUT/resp.json" 2>/dev/null)
    [[ $st == 20? && $key == lair_* ]] || die "tenant creation answered $st: $(cat "$OUT/resp.json")"
    st=$(post "$key" /api/v1/knowledge-bases "{\"slug\":\"$s\",\"name\":\"$s\"}")
    [[ $st == 20? ]] || die "$s: knowledge base creation answered $st: $(cat "$OUT/resp.json")"
    log "$s: ingesting $(ls "$OUT/$s/docs" | wc -l) documents through the API"
    printf '%s\n' "node bench/rag/client.mjs upload --base $base --key \$KEY --kb $s --dir $OUT/$s/docs" >>"$cmds"
    node "$root/bench/rag/client.mjs" upload --base "$base" --key "$key" --kb "$s" --dir "$OUT/$s/docs" \
        >"$dir/ingest.json" 2>"$dir/ingest.log" || die "$s: ingestion: $(tail -c 400 "$dir/ingest.log")"
    log "$s: $(cat "$dir/ingest.json")"
    keys[$s]=$key
    search_set "$s" "$key" "$dir"
}
search_set() { # SET KEY DIR [QUESTIONS [RUN]]
    local s=$1 key=$2 dir=$3 qs=${4:-$SHARED/data/$s/questions-dev.jsonl} run=${5:-libreair}
    mkdir -p "$dir"
    log "$s: searching $(basename "$qs")${LAIR_ENV:+ ($LAIR_ENV)}"
    printf '%s\n' "node bench/rag/client.mjs search --base $base --key \$KEY --kb $s --questions $qs --out $dir/$run.run" >>"$cmds"
    noise_start
    node "$root/bench/rag/client.mjs" search --base "$base" --key "$key" --kb "$s" \
        --questions "$qs" --out "$dir/$run.run" 2>"$dir/search.log" ||
        die "$s: search: $(tail -c 400 "$dir/search.log")"
    noise_end "$dir/noise-$run.json"
    [ "$run" = libreair ] && cp "$dir/noise-$run.json" "$dir/noise.json"
    return 0
}
declare -A keys
for s in "${sets[@]}"; do
    run_set "$s" "bench-$s" "$OUT/$s"
    for v in typos noaccents; do
        search_set "$s" "${keys[$s]}" "$OUT/$s" "$OUT/$s/questions-$v.jsonl" "libreair-$v"
    done
done
# Ingestion again, INGEST_RUNS times per side, the two sides taking turns,
# each run from nothing (a new tenant; a new Xapian database): on shared
# cores one run of each, minutes apart, compares the neighbours' load more
# than the two systems. The table gives each side's best run.
for s in "${sets[@]}"; do
    : >"$OUT/$s/ingest-runs.jsonl"
    cat "$OUT/$s/ingest.json" >>"$OUT/$s/ingest-runs.jsonl"
    for i in $(seq 2 "$INGEST_RUNS"); do
        st=$(post "$op_key" /api/v1/tenants "{\"admin_key\":true,\"slug\":\"ingest-$s-$i\",\"name\":\"Ingestion $s $i\"}")
        k=$(jq -r '.admin_key // empty' "$OUT/resp.json" 2>/dev/null)
        [[ $st == 20? && $k == lair_* ]] || die "tenant creation answered $st: $(cat "$OUT/resp.json")"
        st=$(post "$k" /api/v1/knowledge-bases "{\"slug\":\"$s\",\"name\":\"$s\"}")
        [[ $st == 20? ]] || die "$s: knowledge base creation answered $st"
        node "$root/bench/rag/client.mjs" upload --base "$base" --key "$k" --kb "$s" --dir "$OUT/$s/docs" \
            >>"$OUT/$s/ingest-runs.jsonl" 2>>"$OUT/$s/ingest.log" || die "$s: ingestion run $i"
        "$OUT/xapian_peer" "${XAPIAN_ARGS[@]}" "$SHARED/data/$s/corpus.jsonl" "$OUT/$s/xapian-ingest.db" \
            /dev/null /dev/null 2>>"$OUT/$s/xapian.log" | head -n1 >>"$OUT/$s/xapian-ingest-runs.txt" ||
            die "$s: xapian_peer ingestion run $i"
        rm -rf "$OUT/$s/xapian-ingest.db"
    done
    log "$s: ingestion runs: $(jq -sc 'map(.bytes / 1e6 / .seconds * 100 | round / 100)' "$OUT/$s/ingest-runs.jsonl") MB/s"
done
printf '%s\n' "(ingestion, INGEST_RUNS=$INGEST_RUNS: the upload and xapian_peer commands above again, each time from nothing, taking turns)" >>"$cmds"
# the suggester's ablation: the same index, a server that does not correct
cleanup
LAIR_ENV=LIBREAIR_SPELL=off start_lair
for s in "${sets[@]}"; do
    for v in "${variants[@]}"; do
        LAIR_ENV=LIBREAIR_SPELL=off search_set "$s" "${keys[$s]}" "$OUT/$s" "$OUT/$s/questions-$v.jsonl" "libreair-nospell-$v"
    done
done
if [ "$vectors" = 1 ] && [[ " ${sets[*]} " == *" spf "* ]]; then
    cleanup
    bert=$HOME/.cache/libreair/bench/bert-384.gguf
    if [ ! -f "$bert" ]; then
        log "generating $bert (random weights)"
        printf '%s\n' "scripts/gen-model.sh tiny-bert $bert --n-embd 384 --n-head 6 --n-ff 1536 --n-layer 2" >>"$cmds"
        LAIR_BUILD=$BUILD "$root/scripts/gen-model.sh" tiny-bert "$bert" --n-embd 384 --n-head 6 --n-ff 1536 \
            --n-layer 2 -q 2>>"$OUT/server.log" || die "cannot generate $bert"
    fi
    start_lair --model "embed=$bert" --threads "$(nproc)"
    run_set spf bench-spf-vectors "$OUT/spf-vectors"
    curl -sS "$base/metrics" | grep '^libreair_vector_cache' >"$OUT/spf-vectors/metrics.txt"
    # the same searches without the cache: every question reads the vectors
    cleanup
    start_lair --model "embed=$bert" --threads "$(nproc)" --vector-cache 0
    search_set spf "$key" "$OUT/spf-vectors-nocache"
fi
cleanup
pid=

# ---- Xapian ------------------------------------------------------------------
for s in "${sets[@]}"; do
    log "$s: Xapian (${XAPIAN_ARGS[*]})"
    d=$OUT/$s
    printf '%s\n' "$OUT/xapian_peer ${XAPIAN_ARGS[*]} $SHARED/data/$s/corpus.jsonl $d/xapian.db $d/questions-clean.jsonl $d/xapian.run $d/questions-typos.jsonl $d/xapian-nospell-typos.run $d/questions-noaccents.jsonl $d/xapian-nospell-noaccents.run" >>"$cmds"
    "$OUT/xapian_peer" "${XAPIAN_ARGS[@]}" "$SHARED/data/$s/corpus.jsonl" "$d/xapian.db" \
        "$d/questions-clean.jsonl" "$d/xapian.run" "$d/questions-typos.jsonl" "$d/xapian-nospell-typos.run" \
        "$d/questions-noaccents.jsonl" "$d/xapian-nospell-noaccents.run" >"$d/xapian.out" 2>"$d/xapian.log" ||
        die "$s: xapian_peer: $(tail -c 300 "$d/xapian.log")"
    cp "$d/xapian.run" "$d/xapian-nospell-clean.run"
    log "$s: Xapian with spelling correction"
    printf '%s\n' "$OUT/xapian_peer ${XAPIAN_ARGS[*]} --spelling $SHARED/data/$s/corpus.jsonl $d/xapian-spell.db $d/questions-clean.jsonl $d/xapian-clean.run $d/questions-typos.jsonl $d/xapian-typos.run $d/questions-noaccents.jsonl $d/xapian-noaccents.run" >>"$cmds"
    "$OUT/xapian_peer" "${XAPIAN_ARGS[@]}" --spelling "$SHARED/data/$s/corpus.jsonl" "$d/xapian-spell.db" \
        "$d/questions-clean.jsonl" "$d/xapian-clean.run" "$d/questions-typos.jsonl" "$d/xapian-typos.run" \
        "$d/questions-noaccents.jsonl" "$d/xapian-noaccents.run" >"$d/xapian-spell.out" 2>>"$d/xapian.log" ||
        die "$s: xapian_peer --spelling: $(tail -c 300 "$d/xapian.log")"
    rm -rf "$d/xapian.db" "$d/xapian-spell.db"
done

# ---- scores and the table ----------------------------------------------------
for s in "${sets[@]}"; do
    for side in libreair xapian; do
        node "$root/bench/rag/eval.mjs" "$SHARED/data/$s/questions-dev.jsonl" "$OUT/$s/$side.run" \
            >"$OUT/$s/$side.json" || die "$s: scoring $side"
    done
    cp "$OUT/$s/libreair.run" "$OUT/$s/libreair-clean.run"
    for v in "${variants[@]}"; do
        for run in libreair-$v libreair-nospell-$v xapian-$v xapian-nospell-$v; do
            node "$root/bench/rag/eval.mjs" "$OUT/$s/questions-$v.jsonl" "$OUT/$s/$run.run" \
                >"$OUT/$s/$run.json" || die "$s: scoring $run"
        done
    done
done
for v in spf-vectors spf-vectors-nocache; do
    [ -f "$OUT/$v/libreair.run" ] || continue
    node "$root/bench/rag/eval.mjs" "$SHARED/data/spf/questions-dev.jsonl" "$OUT/$v/libreair.run" \
        >"$OUT/$v/libreair.json" || die "$v: scoring"
done
node - "$OUT" "${sets[@]}" >"$OUT/results.md" <<'JS' || die "report"
const fs = require('fs');
const [out, ...sets] = process.argv.slice(2);
const J = (f) => JSON.parse(fs.readFileSync(`${out}/${f}`, 'utf8'));
const f3 = (x) => (x == null ? 'n/a' : x.toFixed(3));
const f2 = (x) => (x == null ? 'n/a' : x.toFixed(2));
const pts = (x) => (x >= 0 ? '+' : '') + (100 * x).toFixed(1) + ' pts';
const rows = [], checks = [], noise = [], typos = [], ingestRuns = [];
const xconfig = (s) => fs.readFileSync(`${out}/${s}/xapian.out`, 'utf8').split('\n')
    .find((l) => l.startsWith('config '))?.slice(7) ?? '?';
for (const s of sets) {
    const L = J(`${s}/libreair.json`), X = J(`${s}/xapian.json`), ing = J(`${s}/ingest.json`);
    // ingestion: each side's best run (the first, with the searches, and INGEST_RUNS - 1 more)
    const xlines = [fs.readFileSync(`${out}/${s}/xapian.out`, 'utf8').split('\n')[0]];
    if (fs.existsSync(`${out}/${s}/xapian-ingest-runs.txt`))
        xlines.push(...fs.readFileSync(`${out}/${s}/xapian-ingest-runs.txt`, 'utf8').split('\n').filter(Boolean));
    const xruns = xlines.map((l) => l.trim().split(/\s+/)).map((x) => Number(x[2]) / 1e6 / Number(x[3]));
    const lruns = (fs.existsSync(`${out}/${s}/ingest-runs.jsonl`)
        ? fs.readFileSync(`${out}/${s}/ingest-runs.jsonl`, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l))
        : [ing]).map((r) => r.bytes / 1e6 / r.seconds);
    const xmbs = Math.max(...xruns), lmbs = Math.max(...lruns);
    ingestRuns.push(`${s}: LibreAIr ${lruns.map(f2).join(', ')} MB/s; Xapian ${xruns.map(f2).join(', ')} MB/s`);
    rows.push(`| ${s} | LibreAIr (HTTP API) | ${f3(L.r1)} | ${f3(L.r5)} | ${f3(L.r10)} | ${f3(L.mrr10)} | ${f2(L.p50_ms)} | ${f2(L.p99_ms)} | ${f2(lmbs)} |`);
    rows.push(`| ${s} | Xapian, best configuration (in process) | ${f3(X.r1)} | ${f3(X.r5)} | ${f3(X.r10)} | ${f3(X.mrr10)} | ${f2(X.p50_ms)} | ${f2(X.p99_ms)} | ${f2(xmbs)} |`);
    rows.push(`| ${s} | LibreAIr − Xapian | ${pts(L.r1 - X.r1)} | ${pts(L.r5 - X.r5)} | ${pts(L.r10 - X.r10)} | ${pts(L.mrr10 - X.mrr10)} | ×${f2(L.p50_ms / X.p50_ms)} | ×${f2(L.p99_ms / X.p99_ms)} | ×${f2(lmbs / xmbs)} |`);
    const v = (ok) => (ok ? 'PASS' : 'MISS');
    const goal = s === 'spf' ? 0.93 : 0.89;
    checks.push(`| ${s} R@5 ≥ ${goal} | ${f3(L.r5)} | ${v(L.r5 >= goal)} |`);
    checks.push(`| ${s} R@5 ≥ best Xapian + 3 pts | ${pts(L.r5 - X.r5)} | ${v(L.r5 - X.r5 >= 0.03)} |`);
    const T = J(`${s}/libreair-typos.json`);
    if (s === 'spf')
        checks.push(`| spf with typos: R@5 within 2 pts of clean, ≥ 0.91 | ${f3(T.r5)} (${pts(T.r5 - L.r5)}) | ${v(T.r5 >= L.r5 - 0.02 && T.r5 >= 0.91)} |`);
    checks.push(`| ${s} ingestion MB/s ≥ Xapian's (each side's best run) | ${f2(lmbs)} vs ${f2(xmbs)} | ${v(lmbs >= xmbs)} |`);
    checks.push(`| ${s} search p50 ≤ 5 ms (clean; typos) | ${f2(L.p50_ms)}; ${f2(T.p50_ms)} ms | ${v(L.p50_ms <= 5 && T.p50_ms <= 5)} |`);
    checks.push(`| ${s} search p99 ≤ 20 ms (clean; typos) | ${f2(L.p99_ms)}; ${f2(T.p99_ms)} ms | ${v(L.p99_ms <= 20 && T.p99_ms <= 20)} |`);
    const sys = [['libreair', 'LibreAIr, suggester on (default)'], ['libreair-nospell', 'LibreAIr, suggester off (LIBREAIR_SPELL=off)'],
        ['xapian', 'Xapian best + spelling correction'], ['xapian-nospell', 'Xapian best, no spelling correction']];
    for (const [run, name] of sys) {
        const r = ['clean', 'typos', 'noaccents'].map((q) => J(`${s}/${run}-${q}.json`));
        typos.push(`| ${s} | ${name} | ${r.map((m) => `${f3(m.r5)} | ${f3(m.mrr10)}`).join(' | ')} | ${pts(r[1].r5 - r[0].r5)} | ${f2(r[1].p50_ms)} |`);
    }
    if (ing.errors) checks.push(`| ${s}: files that failed ingestion | ${ing.errors} | MISS |`);
    const nz = J(`${s}/noise.json`);
    noise.push(`${s}: during LibreAIr's searches, other processes used ${(100 * nz.foreign).toFixed(0)} % of the machine's CPU ` +
        `(server ${(100 * nz.server).toFixed(0)} %, client ${(100 * nz.client).toFixed(0)} %, load average ${nz.load})` +
        (nz.foreign > 0.25 ? ' — a noisy run: latencies are not representative of this machine.' : '.'));
}
if (fs.existsSync(`${out}/spf-vectors/libreair.json`)) {
    const V = J('spf-vectors/libreair.json'), ing = J('spf-vectors/ingest.json'), L = J('spf/libreair.json');
    const m = Object.fromEntries(fs.readFileSync(`${out}/spf-vectors/metrics.txt`, 'utf8').trim().split('\n')
        .map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
    rows.push(`| spf | LibreAIr hybrid (BM25 + random-weight BERT 384; latency only) | ${f3(V.r1)} | ${f3(V.r5)} | ${f3(V.r10)} | ${f3(V.mrr10)} | ${f2(V.p50_ms)} | ${f2(V.p99_ms)} | ${f2(ing.bytes / 1e6 / ing.seconds)} |`);
    rows.push(`| spf | hybrid ÷ lexical | | | | | ×${f2(V.p50_ms / L.p50_ms)} | ×${f2(V.p99_ms / L.p99_ms)} | |`);
    if (fs.existsSync(`${out}/spf-vectors-nocache/libreair.json`)) {
        const N = J('spf-vectors-nocache/libreair.json');
        rows.push(`| spf | LibreAIr hybrid, --vector-cache 0 (vectors read from SQLite per question) | ${f3(N.r1)} | ${f3(N.r5)} | ${f3(N.r10)} | ${f3(N.mrr10)} | ${f2(N.p50_ms)} | ${f2(N.p99_ms)} | |`);
        rows.push(`| spf | hybrid: with ÷ without the vector cache | | | | | ×${f2(V.p50_ms / N.p50_ms)} | ×${f2(V.p99_ms / N.p99_ms)} | |`);
    }
    const nz = J('spf-vectors/noise.json');
    noise.push(`spf hybrid: vector cache ${m.libreair_vector_cache_hits_total} hits, ${m.libreair_vector_cache_loads_total} loads, ` +
        `${(m.libreair_vector_cache_bytes / 1048576).toFixed(1)} MiB held; other processes used ${(100 * nz.foreign).toFixed(0)} % of the CPU during its searches. ` +
        'Its recall is that of random vectors fused with BM25, not a measure of retrieval quality.');
}
console.log(`# Retrieval benchmark (bench/rag/run.sh), ${new Date().toISOString()}\n`);
console.log('| set | system | R@1 | R@5 | R@10 | MRR@10 | search p50 ms | search p99 ms | ingestion MB/s |');
console.log('|---|---|---|---|---|---|---|---|---|');
rows.forEach((r) => console.log(r));
console.log(`\nXapian: ${sets.map((s) => `${s}: ${xconfig(s)}`).join('; ')}.`);
if (typos.length) {
    console.log('\nTypos and accents (dev questions; typos: bench/rag/typos.mjs --seed 18, one per question; no accents: every accent removed):\n');
    console.log('| set | system | clean R@5 | clean MRR@10 | typos R@5 | typos MRR@10 | no accents R@5 | no accents MRR@10 | typos − clean R@5 | typos p50 ms |');
    console.log('|---|---|---|---|---|---|---|---|---|---|');
    typos.forEach((r) => console.log(r));
}
if (checks.length) {
    console.log('\n| target | measured | verdict |\n|---|---|---|');
    checks.forEach((r) => console.log(r));
}
console.log('\n' + noise.join('\n'));
console.log(`
LibreAIr's latency is the wall time of one POST /api/v1/knowledge-bases/{slug}/search
seen by a client on the same machine (HTTP, JSON, authentication included);
Xapian's is the time of its in-process query (no HTTP), so the latency ratio
favours Xapian. Ingestion MB/s is passage text over the time from the first
upload to the last job done (LibreAIr: upload, extraction, chunking, indexing,
durable commits) or to Xapian's commit, each side's best of its runs, taken in
turns, each from nothing (${ingestRuns.join('; ')}).

Commands:
\`\`\`
${fs.readFileSync(`${out}/commands.txt`, 'utf8').trim()}
\`\`\``);
JS
cat "$OUT/results.md"
exit 0
