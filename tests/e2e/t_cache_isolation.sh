#!/usr/bin/env bash
# The prompt cache seals tenants and people from each other, tried as the
# attack review did: someone who guesses another's prompt and reads
# usage.prompt_tokens_details.cached_tokens, or times the answer.
#
# Tenant A has an assistant with long secret instructions, and Alice tells it
# a 4-digit code. Then, with A's prompt in the cache:
# - tenant B's admin makes an assistant whose instructions are A's very
#   text, and chats as Alice did: nothing of A's is reused (0 cached);
# - tenant B's raw chat and the operator's raw /v1/completions and chat with
#   A's rendered prompt: 0 cached;
# - Bob (A's tenant, another conversation) and an anonymous widget visitor
#   guess Alice's message: the right guess reuses exactly as much as a wrong
#   one (A's instructions, computed once for the whole tenant: the speed-up
#   within a tenant is kept);
# - timing: B's right guesses of A's instructions are not faster than wrong
#   guesses of the same length, while a conversation of A's own tenant is
#   (the control that shows the measure would see a reuse).
# A generated model of some size, so that prompt time is mostly computing.
source "$(dirname "$0")/lib.sh"

MODEL=$WORK/model.gguf
LAIR_BUILD=$BUILD "$SRC/scripts/gen-model.sh" tiny-qwen2 "$MODEL" -q \
    --n-embd 256 --n-layer 4 --n-ff 768 || fail "cannot generate the model"
init_data
OP=$KEY
start_server --model "default=$MODEL" --slots 2 --ctx 8192 --threads 2 --tenant-raw-models

need() { [ "$STATUS" = "$1" ] || { cat "$WORK/resp" >&2; fail "$2: status $STATUS, not $1"; }; }
as() {
    local who=$1
    shift
    KEY=$who api "$@"
}
SITE=http://127.0.0.1:8765
SECRET=$(node "$SRC/bench/client.mjs" system-prompt --seed 11 --system-tokens 1500)
CODE="Mon code d'accès au coffre est 4721."
WRONG="Mon code d'accès au coffre est 9358."

as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}' >/dev/null; need 201 "tenant A"
A=$(jq -r .admin_key "$WORK/resp")
as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-b","name":"B"}' >/dev/null; need 201 "tenant B"
B=$(jq -r .admin_key "$WORK/resp")

# assistant KEY SLUG INSTRUCTIONS [ORIGINS]: created and published
assistant() {
    local body
    body=$(jq -n --arg slug "$2" --arg ins "$3" --argjson origins "${4:-[]}" \
        '{slug:$slug, model:"default", instructions:$ins, params:{max_tokens:1},
          visibility:(if ($origins | length) > 0 then "public" else "internal" end),
          allowed_origins:$origins}')
    as "$1" POST /api/v1/assistants "$body" >/dev/null; need 201 "assistant $2"
    as "$1" POST /api/v1/assistants/"$2"/publish '{}' >/dev/null; need 200 "publish $2"
}
# chat KEY MODEL USER_TEXT [SUBJECT] [SYSTEM]: non-streamed; sets CACHED, PROMPT, SECS
chat() {
    local body
    body=$(jq -n --arg m "$2" --arg t "$3" --arg u "${4:-}" --arg s "${5:-}" \
        '{model:$m, max_tokens:1, temperature:0,
          messages:((if $s == "" then [] else [{role:"system", content:$s}] end)
                    + [{role:"user", content:$t}])}
         + (if $u == "" then {} else {user:$u} end)')
    local out
    out=$(curl -sS -o "$WORK/resp" -w '%{http_code} %{time_total}' -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' --data-binary "$body" "$URL/v1/chat/completions")
    STATUS=${out% *}
    SECS=${out#* }
    need 200 "chat $2"
    CACHED=$(jq -r '.usage.prompt_tokens_details.cached_tokens' "$WORK/resp")
    PROMPT=$(jq -r '.usage.prompt_tokens' "$WORK/resp")
}

assistant "$A" secret "$SECRET" "[\"$SITE\"]"
chat "$A" secret "$CODE" alice
N_ALICE=$PROMPT
ALICE_CONV=$(jq -r .conversation_id "$WORK/resp")
# Alice's conversation goes on from its cache: the control for the rest
body=$(jq -n --arg c "$ALICE_CONV" '{model:"secret", max_tokens:1, user:"alice", conversation_id:$c,
    messages:[{role:"user", content:"Et ensuite ?"}]}')
as "$A" POST /v1/chat/completions "$body" >/dev/null; need 200 "alice continues"
[ "$(jq -r .usage.prompt_tokens_details.cached_tokens "$WORK/resp")" -ge $((N_ALICE - 1)) ] ||
    fail "Alice's own conversation should reuse her whole prompt"
pass "a conversation reuses its own prompt ($N_ALICE tokens)"

# ---- another tenant: nothing ----
assistant "$B" probe "$SECRET"
chat "$B" probe "$CODE" alice
[ "$CACHED" = 0 ] || fail "tenant B reused $CACHED tokens of tenant A's prompt"
chat "$B" default "$CODE" alice "$SECRET"
[ "$CACHED" = 0 ] || fail "tenant B's raw chat reused $CACHED tokens of tenant A's prompt"
RENDERED=$(printf '<|im_start|>system\n%s<|im_end|>\n<|im_start|>user\n%s<|im_end|>\n<|im_start|>assistant\n' "$SECRET" "$CODE")
api POST /v1/completions "$(jq -n --arg p "$RENDERED" '{model:"default", prompt:$p, max_tokens:1}')" >/dev/null
need 200 "operator completions"
[ "$(jq -r .usage.prompt_tokens_details.cached_tokens "$WORK/resp")" = 0 ] ||
    fail "the operator's raw completion reused tenant A's prompt"
chat "$OP" default "$CODE" someone-else "$SECRET"
[ "$CACHED" = 0 ] || fail "the operator's raw chat reused $CACHED tokens of tenant A's prompt"
pass "another tenant, its raw chat and the operator reuse nothing of tenant A's prompt"

# ---- the same tenant, other people: the instructions, never Alice's turn ----
chat "$A" secret "$CODE" bob
RIGHT=$CACHED
chat "$A" secret "$WRONG" bob
[ "$RIGHT" = "$CACHED" ] || fail "Bob's right guess reused $RIGHT tokens, a wrong one $CACHED"
[ "$RIGHT" -gt 1000 ] && [ "$RIGHT" -lt $((N_ALICE - 5)) ] ||
    fail "Bob should reuse A's instructions only ($RIGHT of $N_ALICE)"
# pubchat TEXT: the widget's anonymous chat
pubchat() {
    curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Origin: $SITE" -H 'Content-Type: application/json' \
        --data-binary "$(jq -n --arg t "$1" '{stream:false, messages:[{role:"user", content:$t}]}')" \
        "$URL/public/v1/assistants/ville-a.secret/chat" >"$WORK/status"
    STATUS=$(cat "$WORK/status")
    need 200 "widget chat"
    jq -r '.usage.prompt_tokens_details.cached_tokens' "$WORK/resp"
}
W_RIGHT=$(pubchat "$CODE")
W_WRONG=$(pubchat "$WRONG")
[ "$W_RIGHT" = "$W_WRONG" ] || fail "the widget's right guess reused $W_RIGHT tokens, a wrong one $W_WRONG"
[ "$W_RIGHT" = "$RIGHT" ] || fail "the widget reused $W_RIGHT tokens, Bob $RIGHT"
pass "within tenant A, Bob and a widget visitor reuse the instructions ($RIGHT tokens) and nothing of Alice's turn"

# ---- timing: a right guess of A's instructions is not faster ----
# seconds per prompt token: the guesses' lengths differ a little
per_token() { awk -v s="$SECS" -v n="$PROMPT" 'BEGIN { printf "%.7f", s / n }'; }
declare -a HIT MISS PEER
for t in 1 2 3 4 5 6 7; do
    chat "$A" secret "Et ensuite ? ($t)" alice # A's prompt is in the cache (again)
    OTHER=$(node "$SRC/bench/client.mjs" system-prompt --seed $((100 + t)) --system-tokens 1500)
    assistant "$B" "hit-$t" "$SECRET"
    assistant "$B" "miss-$t" "$OTHER"
    if [ $((t % 2)) = 0 ]; then
        chat "$B" "miss-$t" "$CODE" mallory; MISS+=("$(per_token)")
        chat "$B" "hit-$t" "$CODE" mallory; HIT+=("$(per_token)")
    else
        chat "$B" "hit-$t" "$CODE" mallory; HIT+=("$(per_token)")
        chat "$B" "miss-$t" "$CODE" mallory; MISS+=("$(per_token)")
    fi
    [ "$CACHED" = 0 ] || fail "timing trial $t: B reused $CACHED tokens"
    chat "$A" secret "$WRONG" "carol-$t"; PEER+=("$(per_token)")
done
med() { printf '%s\n' "$@" | sort -g | sed -n 4p; }
# Each trial's right and wrong guesses ran side by side: their ratio is what
# load on the machine disturbs least.
declare -a RATIO CONTROL
for i in 0 1 2 3 4 5 6; do
    RATIO+=("$(awk -v h="${HIT[$i]}" -v m="${MISS[$i]}" 'BEGIN { printf "%.3f", h / m }')")
    CONTROL+=("$(awk -v p="${PEER[$i]}" -v m="${MISS[$i]}" 'BEGIN { printf "%.3f", p / m }')")
done
R=$(med "${RATIO[@]}") C=$(med "${CONTROL[@]}")
echo "# time per prompt token, right guess / wrong guess, per trial: ${RATIO[*]} (median $R)"
echo "# same tenant / wrong guess, per trial: ${CONTROL[*]} (median $C)"
echo "# medians (s/token): right $(med "${HIT[@]}"), wrong $(med "${MISS[@]}"), same tenant $(med "${PEER[@]}")"
awk -v c="$C" 'BEGIN { exit !(c < 0.5) }' ||
    fail "the control failed: a conversation of A's tenant is not faster than a cold prompt (ratio $C)"
# A reuse of A's instructions would make the right guess ~10x faster (the
# control's ratio); noise on a shared machine stays well within 0.75.
awk -v r="$R" 'BEGIN { exit !(r > 0.75) }' ||
    fail "a right guess of another tenant's prompt answers faster than a wrong one (ratio $R)"
pass "a right guess of another tenant's instructions is not faster than a wrong one (ratio $R; same tenant $C)"
