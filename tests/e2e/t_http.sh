#!/usr/bin/env bash
# HTTP surface with curl against the real binary and real llama.cpp inference
# (stories260K): service endpoints, auth, errors in the OpenAI shape, limits,
# SSE framing, stop strings, context overflow, queue saturation.
source "$(dirname "$0")/lib.sh"

"$BIN" --help | grep -q serve || fail "--help lists commands"
for c in init serve chat model tenant key assistant; do "$BIN" $c --help >/dev/null || fail "$c --help"; done
"$BIN" serve --data "$WORK/nodata" --prompt-cache lots 2>"$WORK/pc.err" && fail "--prompt-cache lots must be refused"
grep -q -- '--prompt-cache wants a non-negative integer' "$WORK/pc.err" || fail "--prompt-cache error: $(cat "$WORK/pc.err")"
"$BIN" nope 2>/dev/null && fail "unknown command must fail"
pass "cli help"

init_data
"$BIN" init --data "$WORK/data" >/dev/null 2>&1 && fail "second init must refuse"
grep -q "$KEY" "$WORK/data/system.db" && fail "the key is stored in clear"
pass "init prints a key once and stores only its hash"
k=$("$BIN" init --data "$WORK/srv/libreair/data" | tail -n1)
[[ $k == lair_* ]] && [ -f "$WORK/srv/libreair/data/system.db" ] || fail "init under folders that do not exist yet"
[ "$(stat -c %a "$WORK/srv/libreair/data")" = 700 ] || fail "the data directory is not private"
pass "init creates the missing folders above the data directory; the data directory is 0700"

start_server --model "stories=$STORIES" --slots 2 --ctx 2048 --queue 2 --threads 1

curl -fsS "$URL/healthz" | grep -q '"ok"' || fail healthz
curl -fsS "$URL/readyz" | grep -q '"ready"' || fail readyz
pass "healthz and readyz"

api GET /v1/models >/dev/null
[ "$STATUS" = 200 ] || fail "models $STATUS"
jq -e '.data[0].id == "stories" and .object == "list"' "$WORK/resp" >/dev/null || fail "models body"
s=$(curl -s -o /dev/null -w '%{http_code}' "$URL/v1/models")
[ "$s" = 401 ] || fail "no key gives $s"
s=$(curl -s -o "$WORK/r" -w '%{http_code}' -H 'Authorization: Bearer lair_0123456789ab_wrong' "$URL/v1/models")
[ "$s" = 401 ] || fail "bad key gives $s"
jq -e '.error.type == "authentication_error" and (.error.message|length>0)' "$WORK/r" >/dev/null || fail "401 shape"
pass "models list and auth"

api GET /v1/nothing >/dev/null; [ "$STATUS" = 404 ] || fail "unknown route $STATUS"
api DELETE /v1/models >/dev/null; [ "$STATUS" = 405 ] || fail "wrong method $STATUS"
api POST /v1/chat/completions '{"model":"stories","messages":[' >/dev/null
[ "$STATUS" = 400 ] || fail "malformed json $STATUS"
jq -e '.error.type == "invalid_request_error"' "$WORK/resp" >/dev/null || fail "400 shape"
api POST /v1/chat/completions '{"model":"nope","messages":[{"role":"user","content":"hi"}]}' >/dev/null
[ "$STATUS" = 404 ] || fail "unknown model $STATUS"
jq -e '.error.code == "model_not_found" and .error.param == "model"' "$WORK/resp" >/dev/null || fail "404 shape"
api POST /v1/chat/completions '{"model":"stories","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}' >/dev/null
[ "$STATUS" = 400 ] || fail "bad type $STATUS"
jq -e '.error.param == "temperature"' "$WORK/resp" >/dev/null || fail "param named"
api POST /v1/chat/completions '{"model":"stories","messages":[{"role":"user","content":"hi"}],"n":3}' >/dev/null
[ "$STATUS" = 400 ] || fail "n=3 $STATUS"
api POST /v1/chat/completions '{"model":"stories","model":"x","messages":[]}' >/dev/null
[ "$STATUS" = 400 ] || fail "duplicate key $STATUS"
printf '{"model":"stories","messages":[{"role":"user","content":"\xff\xfe"}]}' >"$WORK/bad-utf8"
s=$(curl -s -o "$WORK/r" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @"$WORK/bad-utf8" "$URL/v1/chat/completions")
[ "$s" = 400 ] || fail "invalid utf-8 $s"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$WORK/big"
s=$(curl -s -o "$WORK/r" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' --data-binary @"$WORK/big" "$URL/v1/chat/completions")
[ "$s" = 413 ] || fail "oversize body $s"
s=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' 'b')" "$URL/healthz")
[ "$s" = 431 ] || [ "$s" = 413 ] || fail "oversize headers $s"
pass "errors in the OpenAI shape: 400, 401, 404, 405, 413, 431"

body='{"model":"stories","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":24,"temperature":0}'
api POST /v1/chat/completions "$body" >/dev/null
[ "$STATUS" = 200 ] || fail "chat $STATUS"
a=$(jq -r '.choices[0].message.content' "$WORK/resp")
api POST /v1/chat/completions "$body" >/dev/null
b=$(jq -r '.choices[0].message.content' "$WORK/resp")
[ -n "$a" ] && [ "$a" = "$b" ] || fail "greedy not deterministic: '$a' vs '$b'"
pass "greedy chat is deterministic"

# stop string: take a word from the greedy answer; the answer must end just before it
word=$(printf '%s' "$a" | tr '\n' ' ' | awk '{print $3}')
if [ -n "$word" ]; then
    api POST /v1/chat/completions "$(jq -c --arg w "$word" '.stop=[$w]' <<<"$body")" >/dev/null
    c=$(jq -r '.choices[0].message.content' "$WORK/resp")
    case "$c" in *"$word"*) fail "stop string '$word' delivered: $c";; esac
    [[ "$a" == "$c"* ]] || fail "stop changed the prefix"
    pass "stop string '$word'"
fi

# SSE framing: data: lines, role first, [DONE] last, usage before it
curl -sS -N -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d "$(jq -c '.stream=true | .stream_options={include_usage:true}' <<<"$body")" \
    "$URL/v1/chat/completions" >"$WORK/sse"
[ "$(tail -n 2 "$WORK/sse" | head -n1)" = "data: [DONE]" ] || fail "no [DONE] at the end"
# comments (": queued, position N", ": keep-alive") are SSE too, and ignored by clients
grep -v '^$' "$WORK/sse" | grep -v '^: ' | grep -vq '^data: ' && fail "non-data line in the stream"
sed -n '1p' "$WORK/sse" | sed 's/^data: //' | jq -e '.choices[0].delta.role == "assistant"' >/dev/null || fail "role first"
grep '^data: {' "$WORK/sse" | tail -n1 | sed 's/^data: //' | jq -e '.usage.completion_tokens > 0 and (.choices|length) == 0' >/dev/null || fail "usage chunk"
streamed=$(grep '^data: {' "$WORK/sse" | sed 's/^data: //' | jq -j '.choices[0].delta.content // empty')
[ "$streamed" = "$a" ] || fail "streamed text differs: '$streamed' vs '$a'"
pass "SSE framing"

long=$(printf 'word %.0s' $(seq 1 3000))
api POST /v1/chat/completions "{\"model\":\"stories\",\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}" >/dev/null
[ "$STATUS" = 400 ] || fail "too long prompt $STATUS"
jq -e '.error.code == "context_length_exceeded"' "$WORK/resp" >/dev/null || fail "ctx error code"
pass "prompt longer than the context is a 400"

api POST /v1/completions '{"model":"stories","prompt":"The cat","max_tokens":8,"temperature":0}' >/dev/null
[ "$STATUS" = 200 ] || fail "completions $STATUS"
jq -e '.object == "text_completion" and (.choices[0].text|length) > 0' "$WORK/resp" >/dev/null || fail "completions body"
api POST /v1/embeddings '{"model":"stories","input":"x"}' >/dev/null
[ "$STATUS" = 400 ] || fail "embeddings on a chat model $STATUS"
pass "completions; embeddings refused on a chat model"

# saturation: 2 slots + 2 queue places. Four long generations fill them
# (waited for on /metrics, not by sleeping); the next request gets 503 with
# Retry-After; the four clients then hang up and their slots come back.
metric() { curl -fsS "$URL/metrics" | awk -v m="$1" '$1 ~ "^"m"[{ ]" || $1 == m {s += $2} END {print s+0}'; }
long_req='{"model":"stories","messages":[{"role":"user","content":"go"}],"max_tokens":2000,"ignore_eos":true,"stream":true}'
pids=()
for i in 1 2 3 4; do
    curl -sN -o /dev/null -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$long_req" "$URL/v1/chat/completions" &
    pids+=($!)
done
for i in $(seq 1 200); do
    [ "$(metric libreair_busy_slots)" = 2 ] && [ "$(metric libreair_queue_depth)" = 2 ] && break
    sleep 0.05
done
[ "$(metric libreair_queue_depth)" = 2 ] || fail "the queue did not fill"
s=$(curl -s -D "$WORK/h" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' -d "$long_req" "$URL/v1/chat/completions")
[ "$s" = 503 ] || fail "no 503 when saturated ($s)"
grep -qi '^retry-after:' "$WORK/h" || fail "503 without Retry-After"
kill "${pids[@]}" 2>/dev/null || true
wait "${pids[@]}" 2>/dev/null || true
for i in $(seq 1 200); do
    [ "$(metric libreair_busy_slots)" = 0 ] && [ "$(metric libreair_queue_depth)" = 0 ] && break
    sleep 0.05
done
[ "$(metric libreair_busy_slots)" = 0 ] || fail "slots not freed after the clients left"
pass "full queue gives 503 with Retry-After; clients that leave free their slots"

out=$(printf 'Once upon a time\nThe end\n/quit\n' | "$BIN" chat --url "$URL" --key "$KEY" --max-tokens 8 --temperature 0 stories)
[ "$(printf '%s' "$out" | grep -c .)" -ge 2 ] || fail "terminal chat printed '$out'"
printf 'hi\n' | "$BIN" chat --url "$URL" --key wrong stories 2>"$WORK/chat.err" && fail "chat with a bad key must fail"
grep -q 'HTTP 401' "$WORK/chat.err" || fail "chat error message: $(cat "$WORK/chat.err")"
pass "terminal chat streams two turns; a bad key is reported"

curl -fsS "$URL/metrics" >"$WORK/metrics"
for m in libreair_http_requests_total libreair_http_request_duration_seconds_bucket \
         libreair_prompt_tokens_total libreair_generated_tokens_total libreair_queue_depth \
         libreair_busy_slots libreair_generation_tokens_per_second libreair_prompt_cache_bytes \
         libreair_prompt_cache_restores_total; do
    grep -q "^$m" "$WORK/metrics" || fail "metric $m missing"
done
grep -q 'route="chat_completions",method="POST",status="200"' "$WORK/metrics" || fail "per-route status"
pass "metrics"
echo "t_http: all passed"
