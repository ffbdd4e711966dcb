#!/usr/bin/env bash
# LibreAIr benchmarks: runs LibreAIr and its peers (llama-bench, llama-server,
# built from the same pinned llama.cpp) side by side on the same model with the
# same threads, one server at a time, and prints a table of ratios against
# targets. See bench/README.md.
#
#   bench/run.sh            full run (128 tokens, 5 interleaved rounds, wrk 10 s)
#   bench/run.sh --quick    smoke check (32 tokens, 1 run each, wrk 3 s)
#   bench/run.sh --engine-only   the model benchmarks without the RAG, PII and
#                           fairness parts
#
# Output: the table on stdout and in bench/out/results.md; raw measurements in
# bench/out/raw/, server logs in bench/out/logs/. A MISS never fails: the exit
# status is 0 when everything ran, 1 when something could not run.
#
# Environment: BENCH_THREADS (default 2), BENCH_MODEL (a GGUF to use instead of
# the generated Qwen2-0.5B-shaped Q8_0), LIBREAIR_CACHE (default ~/.cache/libreair),
# LAIR_BUILD (build folder, default build/).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

quick=0
extras_on=1
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --engine-only) extras_on=0 ;;
        -h | --help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench/run.sh: unknown option '$a' (--quick, --engine-only, --help)" >&2; exit 2 ;;
    esac
done

BUILD=${LAIR_BUILD:-$root/build}
LAIR=$BUILD/libreair
THREADS=${BENCH_THREADS:-2}
CACHE=${LIBREAIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libreair}/bench
OUT=$root/bench/out
RAW=$OUT/raw
LOGS=$OUT/logs
SLOTS=4
CTX_SLOT=2048                      # libreair --ctx is per slot
CTX_TOTAL=$((SLOTS * CTX_SLOT))    # llama-server -c is the total
if [ "$quick" = 1 ]; then
    TOKENS=32 RUNS=1 TTFT_ROUNDS=1 WRK_DUR=3s
else
    TOKENS=128 RUNS=5 TTFT_ROUNDS=3 WRK_DUR=10s
fi
SYS_TOKENS=1500

# Progress goes to the original stderr (fd 9), even from inside a command
# whose stderr is redirected (a trap can run there).
exec 9>&2
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&9; }
failures=()
fail() { log "FAILED: $*"; failures+=("$*"); }

# ---- processes we start are stopped on exit, whatever happens ---------------
pids=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && { log "pid $pid ignored SIGTERM for 10 s; killing"; kill -KILL "$pid" 2>/dev/null; }
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local p
    [ -n "${child:-}" ] && kill -TERM "$child" 2>/dev/null
    for p in "${pids[@]:-}"; do [ -n "$p" ] && stop_pid "$p"; done
}
# Runs a command in the background and waits for it: a foreground child would
# delay the INT/TERM trap until it ends (timeout(1) puts its command in its own
# process group, out of reach of ^C).
child=
run_bg() {
    local rc
    "$@" &
    child=$!
    wait "$child"
    rc=$?
    child=
    return $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# Records a command for results.md, then runs it.
cmds=$OUT/commands.txt
run_logged() {
    printf '%s\n' "$*" >>"$cmds"
    "$@"
}

free_port() {
    node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# VmRSS, RssAnon, RssFile, VmHWM of a process as JSON (kB).
rss_json() {
    awk '/^(VmRSS|RssAnon|RssFile|VmHWM):/ {gsub(":","",$1); a[$1]=$2}
         END {printf "{\"VmRSS\":%d,\"RssAnon\":%d,\"RssFile\":%d,\"VmHWM\":%d}\n", a["VmRSS"], a["RssAnon"], a["RssFile"], a["VmHWM"]}' \
        "/proc/$1/status"
}

# One short non-streaming completion (the "after one request" state).
one_request() { # base key model
    local auth=()
    [ -n "$2" ] && auth=(-H "Authorization: Bearer $2")
    curl -sS --fail-with-body --max-time 300 "${auth[@]}" -H 'Content-Type: application/json' \
        -d "{\"model\":\"$3\",\"messages\":[{\"role\":\"user\",\"content\":\"Bonjour\"}],\"max_tokens\":8,\"temperature\":0,\"ignore_eos\":true}" \
        "$1/v1/chat/completions" >"$RAW/$4-one-request.json"
}

# CPU accounting, to tell a quiet measurement from a noisy one: the share of
# the machine's CPU time used during a measure by processes other than the
# server under test and this script's own children (client, llama-bench),
# steal time included. Written to RAW/<name>-noise.json.
cpu_ticks() { awk '/^cpu /{b=$2+$3+$4+$7+$8+$9; print b, b+$5+$6; exit}' /proc/stat; }
proc_ticks() { { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null || echo; } | awk '{print ($12+$13)+0}'; }
# CPU time of this shell's reaped children, in ticks, into CT. `times` must run
# in this shell (a $(...) subshell has no children), so it goes through a file.
child_ticks() {
    times >"$RAW/.times"
    CT=$(tail -n1 "$RAW/.times" | awk -v hz="$(getconf CLK_TCK)" '{
        s = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] }
        printf "%d\n", s * hz }')
}
noise_start() { # pid (or 0)
    read -r nb0 nt0 < <(cpu_ticks)
    np0=$(proc_ticks "$1")
    child_ticks
    nc0=$CT
}
noise_end() { # name pid (or 0)
    local nb1 nt1 np1 nc1
    read -r nb1 nt1 < <(cpu_ticks)
    np1=$(proc_ticks "$2")
    child_ticks
    nc1=$CT
    awk -v b=$((nb1 - nb0)) -v t=$((nt1 - nt0)) -v p=$((np1 - np0)) -v c=$((nc1 - nc0)) 'BEGIN {
        if (t <= 0) t = 1
        f = (b - p - c) / t; if (f < 0) f = 0
        printf "{\"foreign\":%.3f,\"server\":%.3f,\"children\":%.3f}\n", f, p / t, c / t }' >"$RAW/$1-noise.json"
}

client() { # name tag server_pid mode base key model [args...]
    local name=$1 tag=$2 pid=$3 mode=$4 base=$5 key=$6 model=$7 rc
    shift 7
    local kargs=()
    [ -n "$key" ] && kargs=(--key "$key")
    printf 'node bench/client.mjs %s --base %s --model %s %s\n' "$mode" "$base" "$model" "$*" >>"$cmds"
    noise_start "$pid"
    run_bg timeout 1800 node "$root/bench/client.mjs" "$mode" --base "$base" "${kargs[@]}" --model "$model" "$@" \
        >"$RAW/$name-$tag.json.part" 2>"$LOGS/$name-$tag.client.log"
    rc=$?
    noise_end "$name-$tag" "$pid"
    if [ "$rc" != 0 ]; then
        fail "$name $tag: $(tail -c 400 "$LOGS/$name-$tag.client.log")"
        return 1
    fi
    mv "$RAW/$name-$tag.json.part" "$RAW/$name-$tag.json"
    local bad
    bad=$(jq -r 'select((.failed_rounds // 0) > 0) | "\(.failed_rounds) round(s) failed: \(.errors | join("; "))"' \
        "$RAW/$name-$tag.json")
    [ -z "$bad" ] || { fail "$name $tag: $bad"; return 1; }
}

run_wrk() { # name url key
    local auth=()
    [ -n "$3" ] && auth=(-H "Authorization: Bearer $3")
    printf 'wrk -t 2 -c 64 -d %s --latency -H "Authorization: Bearer $KEY" %s\n' "$WRK_DUR" "$2" >>"$cmds"
    run_bg timeout 120 wrk -t 2 -c 64 -d "$WRK_DUR" --timeout 5s --latency "${auth[@]}" "$2" >"$RAW/$1-wrk.txt" 2>&1 ||
        fail "$1: wrk did not run: $(tail -c 300 "$RAW/$1-wrk.txt")"
}

# ---- prerequisites -----------------------------------------------------------
rm -rf "$RAW" "$LOGS"
mkdir -p "$OUT" "$RAW" "$LOGS" "$CACHE"
: >"$cmds"
for t in node curl jq wrk awk; do
    command -v "$t" >/dev/null || { echo "bench/run.sh: '$t' is missing (apt-get install $t)" >&2; exit 1; }
done
[ -x "$LAIR" ] || { echo "bench/run.sh: $LAIR is not built; run: make" >&2; exit 1; }

log "llama.cpp tools (scripts/llama.sh tools; built once per machine)"
LLAMA_BIN=$("$root/scripts/llama.sh" tools) || { echo "bench/run.sh: cannot build llama.cpp tools" >&2; exit 1; }
for t in llama-server llama-bench llama-quantize; do
    [ -x "$LLAMA_BIN/$t" ] || { echo "bench/run.sh: $LLAMA_BIN/$t is missing" >&2; exit 1; }
done

# ---- the model: generated and quantised once, then cached ---------------------
if [ -n "${BENCH_MODEL:-}" ]; then
    MODEL=$BENCH_MODEL
else
    F16=$CACHE/qwen2-0.5b-f16.gguf
    MODEL=$CACHE/qwen2-0.5b-q8_0.gguf
    if [ ! -f "$MODEL" ]; then
        if [ ! -f "$F16" ]; then
            log "generating $F16 (random weights, Qwen2-0.5B shape, ~1 GB)"
            LAIR_BUILD=$BUILD run_logged "$root/scripts/gen-model.sh" qwen2-0.5b "$F16" ||
                { echo "bench/run.sh: model generation failed" >&2; exit 1; }
        fi
        log "quantising to Q8_0 -> $MODEL"
        run_logged "$LLAMA_BIN/llama-quantize" "$F16" "$MODEL.part" Q8_0 >"$LOGS/quantize.log" 2>&1 ||
            { tail -20 "$LOGS/quantize.log" >&2; echo "bench/run.sh: llama-quantize failed" >&2; exit 1; }
        mv "$MODEL.part" "$MODEL"
    else
        printf '%s\n' "# cached: scripts/gen-model.sh qwen2-0.5b $F16 && llama-quantize $F16 $MODEL Q8_0" >>"$cmds"
    fi
fi
[ -f "$MODEL" ] || { echo "bench/run.sh: no model at $MODEL" >&2; exit 1; }
log "model: $MODEL ($(du -h "$MODEL" | cut -f1))"

cat >"$RAW/meta.json" <<EOF
{"date":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","quick":$quick,"nproc":$(nproc),
 "cpu":$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' | jq -Rs 'rtrimstr("\n")'),
 "kernel":"$(uname -r)","model":"$MODEL","model_bytes":$(stat -c %s "$MODEL"),
 "threads":$THREADS,"slots":$SLOTS,"ctx_slot":$CTX_SLOT,"ctx_total":$CTX_TOTAL,
 "tokens":$TOKENS,"runs":$RUNS,"ttft_rounds":$TTFT_ROUNDS,"system_tokens":$SYS_TOKENS,"wrk":"$WRK_DUR",
 "llama_bin":"$LLAMA_BIN","libreair":"$LAIR","git":"$(git -C "$root" rev-parse --short HEAD 2>/dev/null)$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo +dirty)"}
EOF

# ---- 1. llama-bench tg ---------------------------------------------------------
# One repetition of llama-bench per round, taken in turn with the servers'
# single streams (measure_interleaved), so that a slow spell of the machine
# weighs on the in-process peer too; merge_llama_bench gathers them.
bench_llama_bench() { # round
    log "llama-bench tg$TOKENS (-t $THREADS, -fa 0, round $1 of $RUNS)"
    [ "$1" = 1 ] && printf '%s\n' "llama-bench -m $MODEL -t $THREADS -p 0 -n $TOKENS -fa 0 -r 1 -o json   # once per round" >>"$cmds"
    local rc
    noise_start 0
    run_bg timeout 1200 "$LLAMA_BIN/llama-bench" -m "$MODEL" -t "$THREADS" -p 0 -n "$TOKENS" -fa 0 -r 1 -o json \
        >"$RAW/llama-bench-$1.json" 2>>"$LOGS/llama-bench.log"
    rc=$?
    noise_end "llama-bench-$1" 0
    [ "$rc" = 0 ] || { fail "llama-bench: $(tail -c 300 "$LOGS/llama-bench.log")"; rm -f "$RAW/llama-bench-$1.json"; return 1; }
}

# llama-bench-R.json (one repetition each) -> llama-bench.json: one result
# whose samples are the rounds', in round order, with their mean and spread.
merge_llama_bench() {
    local f=() n=() r
    for r in $(seq 1 "$RUNS"); do
        [ -s "$RAW/llama-bench-$r.json" ] && f+=("$RAW/llama-bench-$r.json")
        [ -s "$RAW/llama-bench-$r-noise.json" ] && n+=("$RAW/llama-bench-$r-noise.json")
    done
    [ "${#f[@]}" -gt 0 ] || return 1
    jq -s '(map(.[0].samples_ts) | add) as $ts | (map(.[0].samples_ns) | add) as $ns
           | ($ts | add / length) as $m
           | [.[0][0] + {samples_ts: $ts, samples_ns: $ns, avg_ts: $m,
               avg_ns: ($ns | add / length),
               stddev_ts: (if ($ts | length) > 1 then ($ts | map(. - $m | . * .) | add / (length - 1) | sqrt) else 0 end)}]' \
        "${f[@]}" >"$RAW/llama-bench.json"
    [ "${#n[@]}" -gt 0 ] && jq -s '{foreign: (map(.foreign) | max), server: 0,
            children: (map(.children) | add / length)}' "${n[@]}" >"$RAW/llama-bench-noise.json"
    rm -f "${f[@]}" "${n[@]}"
}

# ---- the measurements -------------------------------------------------------------
# Both servers are up at once (the idle one sleeps: neither uses CPU while it
# waits), so that the throughput measures can alternate between them round by
# round, ABBA: a slow drift of the machine then weighs on both sides alike.
# The other measures run one server at a time.

# Merges the per-round files NAME-TAG-R.json into NAME-TAG.json, and their
# noise records (the noisiest round counts).
merge_rounds() { # name tag
    local f=() n=() x
    for x in "$RAW/$1-$2"-[0-9]*.json; do
        case "$x" in *-noise.json) n+=("$x") ;; *) [ -e "$x" ] && f+=("$x") ;; esac
    done
    [ "${#f[@]}" -gt 0 ] || return 1
    jq -s '{mode: .[0].mode, tokens: .[0].tokens, streams: .[0].streams,
            runs: (map(.runs) | add), errors: (map(.errors // []) | add)}' "${f[@]}" >"$RAW/$1-$2.json"
    [ "${#n[@]}" -gt 0 ] && jq -s '{foreign: (map(.foreign) | max), server: (map(.server) | add / length),
            children: (map(.children) | add / length)}' "${n[@]}" >"$RAW/$1-$2-noise.json"
    rm -f "${f[@]}" "${n[@]}"
}

# name pid base key model extra, for each server (set by the start functions)
servers=()
srv_args() { # index -> sets S_NAME S_PID S_BASE S_KEY S_MODEL S_EXTRA
    IFS='|' read -r S_NAME S_PID S_BASE S_KEY S_MODEL S_EXTRA <<<"${servers[$1]}"
}
srv_client() { # index tag mode [args...]
    local i=$1 tag=$2 mode=$3
    shift 3
    srv_args "$i"
    local xargs=()
    [ -n "$S_EXTRA" ] && xargs=(--extra "$S_EXTRA")
    client "$S_NAME" "$tag" "$S_PID" "$mode" "$S_BASE" "$S_KEY" "$S_MODEL" "$@" "${xargs[@]}"
}

measure_interleaved() {
    local r i order
    for i in "${!servers[@]}"; do
        srv_args "$i"
        one_request "$S_BASE" "$S_KEY" "$S_MODEL" "$S_NAME" || { fail "$S_NAME: first request failed"; return 1; }
        rss_json "$S_PID" >"$RAW/$S_NAME-rss-one.json"
    done
    for r in $(seq 1 "$RUNS"); do
        if [ $((r % 2)) = 1 ]; then order="0 1"; else order="1 0"; fi
        [ $((r % 2)) = 1 ] && bench_llama_bench "$r"
        for i in $order; do
            srv_args "$i"
            log "$S_NAME: single stream, $TOKENS tokens (round $r of $RUNS)"
            srv_client "$i" "decode-$r" decode --tokens "$TOKENS" --runs 1
        done
        [ $((r % 2)) = 0 ] && bench_llama_bench "$r"
        for i in $order; do
            srv_args "$i"
            log "$S_NAME: $SLOTS concurrent streams (round $r of $RUNS)"
            srv_client "$i" "concurrent-$r" concurrent --tokens "$TOKENS" --runs 1 --streams "$SLOTS"
        done
    done
    for i in "${!servers[@]}"; do
        srv_args "$i"
        merge_rounds "$S_NAME" decode
        merge_rounds "$S_NAME" concurrent
    done
    merge_llama_bench || fail "llama-bench: no round ran"
}

measure_one() { # index
    srv_args "$1"
    local name=$S_NAME pid=$S_PID base=$S_BASE key=$S_KEY
    log "$name: time to first token with a ~$SYS_TOKENS-token system prompt seen just before"
    srv_client "$1" ttft ttft --rounds "$TTFT_ROUNDS" --system-tokens "$SYS_TOKENS" --seed 1
    log "$name: the same, with $SLOTS other conversations in between"
    srv_client "$1" ttft-evicted ttft --rounds "$TTFT_ROUNDS" --system-tokens "$SYS_TOKENS" --seed 101 \
        --fillers "$SLOTS"
    log "$name: the same, while the first conversation is still generating"
    srv_client "$1" ttft-shared ttft --rounds "$TTFT_ROUNDS" --system-tokens "$SYS_TOKENS" --seed 201 \
        --while-running 48
    kill -0 "$pid" 2>/dev/null || { fail "$name: the server died (see bench/out/logs/$name.log)"; return 1; }
    rss_json "$pid" >"$RAW/$name-rss-end.json"
    log "$name: wrk GET /v1/models ($WRK_DUR, 64 connections)"
    noise_start "$pid"
    run_wrk "$name" "$base/v1/models" "$key"
    noise_end "$name-wrk" "$pid"
    kill -0 "$pid" 2>/dev/null || { fail "$name: the server died under wrk (see bench/out/logs/$name.log)"; return 1; }
}

wait_http() { # url timeout_s pid
    local i
    for i in $(seq 1 $(($2 * 5))); do
        kill -0 "$3" 2>/dev/null || return 1
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1")" = 200 ] && return 0
        sleep 0.2
    done
    return 1
}

start_llama_server() {
    local port base pid
    port=$(free_port)
    base=http://127.0.0.1:$port
    log "llama-server -t $THREADS -c $CTX_TOTAL -np $SLOTS -fa off --skip-chat-parsing on $base"
    # --skip-chat-parsing: the answer is returned as plain content, as LibreAIr
    # does; otherwise llama-server parses it for tool calls and reasoning, and
    # random-weight output that happens to contain <tool_call> gets a 500.
    printf '%s\n' "llama-server -m $MODEL -t $THREADS -c $CTX_TOTAL -np $SLOTS -fa off --no-webui --skip-chat-parsing --host 127.0.0.1 --port $port" >>"$cmds"
    "$LLAMA_BIN/llama-server" -m "$MODEL" -t "$THREADS" -c "$CTX_TOTAL" -np "$SLOTS" -fa off --no-webui \
        --skip-chat-parsing --host 127.0.0.1 --port "$port" >"$LOGS/llama-server.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_http "$base/health" 300 "$pid" || { fail "llama-server did not become ready (bench/out/logs/llama-server.log)"; stop_pid "$pid"; return 1; }
    servers+=("llama-server|$pid|$base||bench|{\"cache_prompt\":true}")
}

# Starts libreair serve in the background; sets srv_pid and srv_base.
start_libreair() { # name data [serve args...]
    local name=$1 data=$2 i
    shift 2
    rm -rf "$data"
    run_logged "$LAIR" init --data "$data" >"$LOGS/$name-init.log" 2>&1 || { fail "$name: libreair init failed"; return 1; }
    srv_key=$(tail -n1 "$LOGS/$name-init.log")
    printf '%s\n' "$LAIR serve --data $data --listen 127.0.0.1:0 $*" >>"$cmds"
    env -u LIBREAIR_MODEL "$LAIR" serve --data "$data" --listen 127.0.0.1:0 "$@" \
        >"$LOGS/$name.stdout" 2>"$LOGS/$name.log" &
    srv_pid=$!
    pids+=("$srv_pid")
    srv_base=
    for i in $(seq 1 1500); do # up to 300 s for the model to load
        kill -0 "$srv_pid" 2>/dev/null || break
        [ -z "$srv_base" ] && srv_base=$(sed -n 's/^libreair: listening on \(http:[^ ]*\).*/\1/p' "$LOGS/$name.stdout")
        grep -q '^libreair: ready' "$LOGS/$name.stdout" && break
        sleep 0.2
    done
    if [ -z "$srv_base" ] || ! grep -q '^libreair: ready' "$LOGS/$name.stdout"; then
        fail "$name: libreair serve did not become ready ($(tail -c 300 "$LOGS/$name.log"))"
        return 1
    fi
}

bench_libreair_idle() {
    log "libreair idle (no model)"
    start_libreair libreair-idle "$OUT/data-idle" || return 1
    curl -s -o /dev/null --max-time 5 "$srv_base/healthz"
    rss_json "$srv_pid" >"$RAW/libreair-idle-rss.json"
    stop_pid "$srv_pid"
}

start_libreair_model() {
    log "libreair --slots $SLOTS --ctx $CTX_SLOT --threads $THREADS"
    start_libreair libreair "$OUT/data" --model "bench=$MODEL" --slots "$SLOTS" --ctx "$CTX_SLOT" \
        --threads "$THREADS" || { stop_pid "${srv_pid:-0}"; return 1; }
    if ! grep -q '^libreair: ready (1 model)' "$LOGS/libreair.stdout"; then
        fail "libreair: the model did not load ($(grep -m1 -i 'cannot load' "$LOGS/libreair.log"))"
        stop_pid "$srv_pid"
        return 1
    fi
    servers+=("libreair|$srv_pid|$srv_base|$srv_key|bench|")
}

bench_servers() {
    start_llama_server || return 1
    start_libreair_model || return 1
    measure_interleaved
    local i
    for i in "${!servers[@]}"; do measure_one "$i"; done
    srv_args 1
    curl -s --max-time 10 -H "Authorization: Bearer $S_KEY" "$S_BASE/metrics" >"$RAW/libreair-metrics.txt"
    for i in "${!servers[@]}"; do srv_args "$i"; stop_pid "$S_PID"; done
}

bench_libreair_idle
bench_servers

# ---- later benchmarks plug in here: any build/<name> that exists is run ----------
extras=$RAW/extras.md
: >"$extras"
[ "$extras_on" = 1 ] || log "--engine-only: RAG, PII and fairness benchmarks skipped"
for tool in $([ "$extras_on" = 1 ] && echo pii-bench rag-eval); do
    [ -x "$BUILD/$tool" ] || { log "$tool: not built, skipped"; continue; }
    log "$tool"
    printf '%s\n' "LAIR_SHARED=$root/../shared $BUILD/$tool" >>"$cmds"
    if LAIR_SHARED=$root/../shared run_bg timeout 1800 "$BUILD/$tool" >"$RAW/$tool.txt" 2>&1; then
        printf '\n## %s\n\n```\n%s\n```\n' "$tool" "$(cat "$RAW/$tool.txt")" >>"$extras"
    else
        fail "$tool exited with an error: $(tail -c 300 "$RAW/$tool.txt")"
        printf '\n## %s (failed)\n\n```\n%s\n```\n' "$tool" "$(tail -n 40 "$RAW/$tool.txt")" >>"$extras"
    fi
done

# Retrieval against Xapian (bench/rag) and fairness across tenants.
if [ "$extras_on" = 1 ] && [ -x "$root/bench/rag/run.sh" ]; then
    log "bench/rag/run.sh --vectors (retrieval vs Xapian; hybrid search with and without the vector cache)"
    printf '%s\n' "LAIR_BUILD=$BUILD bench/rag/run.sh --vectors" >>"$cmds"
    if LAIR_BUILD=$BUILD LAIR_SHARED=$root/../shared run_bg timeout 3600 "$root/bench/rag/run.sh" --vectors >"$RAW/rag.txt" 2>"$RAW/rag.log"; then
        printf '\n## Retrieval (bench/rag)\n\n%s\n' "$(sed 1d "$root/bench/out/rag/results.md" 2>/dev/null || cat "$RAW/rag.txt")" >>"$extras"
    else
        fail "bench/rag/run.sh: $(tail -c 300 "$RAW/rag.log")"
    fi
fi
if [ "$extras_on" = 1 ] && [ -f "$root/bench/fairness.mjs" ] && [ -n "${MODEL:-}" ]; then
    log "bench/fairness.mjs (tenant B's first token while tenant A keeps 16 streams busy)"
    printf '%s\n' "MODEL=$MODEL node bench/fairness.mjs" >>"$cmds"
    if MODEL=$MODEL LAIR_BUILD=$BUILD run_bg timeout 1200 node "$root/bench/fairness.mjs" >"$RAW/fairness.txt" 2>&1; then
        printf '\n## Fairness\n\n```\n%s\n```\n' "$(cat "$RAW/fairness.txt")" >>"$extras"
    else
        fail "bench/fairness.mjs: $(tail -c 300 "$RAW/fairness.txt")"
    fi
fi

printf '%s\n' "${failures[@]:-}" | sed '/^$/d' >"$RAW/failures.txt"
node "$root/bench/report.mjs" "$RAW" "$cmds" >"$OUT/results.md.part" || { echo "bench/run.sh: report failed" >&2; exit 1; }
mv "$OUT/results.md.part" "$OUT/results.md"
cat "$OUT/results.md"
echo
log "written to bench/out/results.md"
if [ "${#failures[@]}" -gt 0 ]; then
    log "${#failures[@]} part(s) could not run:"
    printf '  - %s\n' "${failures[@]}" >&2
    exit 1
fi
exit 0
