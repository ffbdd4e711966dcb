#!/usr/bin/env bash
# serve with a model file that is missing, not a GGUF file, or a GGUF file
# that cannot be loaded (issue 15, item 9): the server says which and why and
# exits 1 instead of running "ready (0 models)" and answering 404 for the
# model everyone expects; --allow-missing-models serves what loads, and says
# what it left out.
source "$(dirname "$0")/lib.sh"

init_data
head -c 4096 /dev/urandom >"$WORK/random.gguf"
# a real model cut in half: its tensors are not all there
size=$(stat -c %s "$STORIES")
head -c $((size / 2)) "$STORIES" >"$WORK/truncated.gguf"
# a real model whose architecture llama.cpp does not know: the metadata check
# passes, the load fails (after the server listens)
python3 - "$STORIES" "$WORK/arch.gguf" <<'PY'
import sys
d = open(sys.argv[1], 'rb').read()
k = d.index(b'general.architecture')
i = d.index(b'llama', k + 20)
open(sys.argv[2], 'wb').write(d[:i] + b'llamz' + d[i + 5:])
PY

serve() { # ARGS...: runs serve to its end (at most 30 s), sets RC
    RC=0
    timeout 30 "$BIN" serve --data "$WORK/data" --listen 127.0.0.1:0 "$@" \
        >"$WORK/out" 2>"$WORK/err" || RC=$?
}

serve --model "s=$STORIES" --model "x=$WORK/nope.gguf" --model "y=$WORK/random.gguf" \
    --model "z=$WORK/truncated.gguf"
[ "$RC" = 1 ] || fail "missing and random files: wanted exit 1, got $RC: $(cat "$WORK/out" "$WORK/err")"
grep -q "model 'z': $WORK/truncated.gguf is not a GGUF model" "$WORK/err" || fail "truncated file not named: $(cat "$WORK/err")"
grep -q "model 'x': $WORK/nope.gguf cannot be read" "$WORK/err" || fail "missing file not named: $(cat "$WORK/err")"
grep -q "model 'y': $WORK/random.gguf is not a GGUF model" "$WORK/err" || fail "random file not named: $(cat "$WORK/err")"
grep -q -- "--allow-missing-models" "$WORK/err" || fail "the way out not told: $(cat "$WORK/err")"
grep -q "listening" "$WORK/out" && fail "it bound a port before refusing"
pass "a missing, a random and a truncated model file: exit 1 before listening, each named with the reason"

serve --model "s=$STORIES" --model "t=$WORK/arch.gguf"
[ "$RC" = 1 ] || fail "truncated model: wanted exit 1, got $RC: $(cat "$WORK/out" "$WORK/err")"
grep -q "cannot load model 't'" "$WORK/err" || fail "load failure not named: $(cat "$WORK/err")"
grep -q "^libreair: ready" "$WORK/out" && fail "said ready without its model"
pass "a GGUF file llama.cpp cannot load (unknown architecture): exit 1, never ready"

start_server --model "s=$STORIES" --model "x=$WORK/nope.gguf" --model "t=$WORK/arch.gguf" \
    --allow-missing-models --slots 1 --threads 1
grep -q "^libreair: ready (1 model)" "$WORK/server.out" || fail "degraded start: $(cat "$WORK/server.out")"
grep -q "model 'x'.*served without it" "$WORK/server.err" || fail "no warning for x: $(cat "$WORK/server.err")"
api GET /v1/models >/dev/null
jq -e '[.data[].id] == ["s"]' "$WORK/resp" >/dev/null || fail "/v1/models: $(cat "$WORK/resp")"
pass "--allow-missing-models: serves the model that loads, warns for the two others"
