#!/usr/bin/env bash
# The public widget API and the embedded web files with curl against the real
# binary: public ids that only a published public assistant answers, the
# origin allow-list (CORS headers only for allowed origins, preflight), strict
# request bodies, the per-client rate limit (429 with Retry-After, readable
# by the page; clients told apart behind a local proxy; one bucket however
# the Origin is spelt, answered with the canonical origin), widget chats
# recorded as conversations under a pseudonymous subject and continued by
# id, no cookies; /api/v1/me for each role; static files, their headers and
# HEAD.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server --model "stories=$STORIES" --slots 2 --ctx 512 --threads 1 --trusted-proxy 127.0.0.1

as() {
    local who=$1
    shift
    KEY=$who api "$@"
}
need() { [ "$STATUS" = "$1" ] || { cat "$WORK/resp" >&2; fail "$2: status $STATUS, not $1"; }; }
check() { jq -e "$1" "$WORK/resp" >/dev/null || { cat "$WORK/resp" >&2; fail "$2"; }; }
SITE=http://127.0.0.1:8765
OTHER=https://evil.example
# pub METHOD PATH ORIGIN [BODY] [extra curl args]: no key; headers in $WORK/hdr
pub() {
    local method=$1 path=$2 origin=$3 body=${4:-}
    shift 4 || shift $#
    local args=(-sS -D "$WORK/hdr" -o "$WORK/resp" -w '%{http_code}' -X "$method")
    [ -n "$origin" ] && args+=(-H "Origin: $origin")
    [ -n "$CLIENT" ] && args+=(-H "X-Forwarded-For: $CLIENT")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    STATUS=$(curl "${args[@]}" "$@" "$URL$path")
}
CLIENT=
hdr() { grep -i "^$1:" "$WORK/hdr" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }

as "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}' >/dev/null; need 201 "tenant"
ADMIN=$(jq -r .admin_key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"editor"}' >/dev/null; need 201 "editor key"
EDITOR=$(jq -r .key "$WORK/resp")
as "$ADMIN" POST /api/v1/keys '{"role":"user","assistants":["guichet"]}' >/dev/null; need 201 "user key"
USER=$(jq -r .key "$WORK/resp")

# ---- /api/v1/me ----
as "$ADMIN" GET /api/v1/me >/dev/null; need 200 "me admin"
check '.role == "admin" and .tenant == "ville-a" and .assistants == [] and (.id | length) == 12' "me admin"
check '(tostring | test("lair_")) | not' "me never shows a secret"
as "$EDITOR" GET /api/v1/me >/dev/null; need 200 "me editor"; check '.role == "editor"' "me editor"
as "$USER" GET /api/v1/me >/dev/null; need 200 "me user"
check '.role == "user" and .assistants == ["guichet"]' "me user restricted"
as "$OP" GET /api/v1/me >/dev/null; need 200 "me operator"; check '.role == "operator" and .tenant == null' "me op"
as "lair_bad_bad" GET /api/v1/me >/dev/null; need 401 "me bad key"
pass "/api/v1/me says the key's role, tenant and restriction"

# ---- assistants: public+published, public unpublished, internal ----
body() { # body SLUG VISIBILITY ORIGINS
    printf '{"slug":"%s","model":"stories","welcome":"Bonjour !","starters":["Once upon a time"],"visibility":"%s","allowed_origins":%s,"params":{"max_tokens":16}}' "$1" "$2" "$3"
}
as "$ADMIN" POST /api/v1/assistants "$(body guichet public "[\"$SITE\"]")" >/dev/null; need 201 "public"
as "$ADMIN" POST /api/v1/assistants/guichet/publish '{}' >/dev/null; need 200 "publish"
as "$ADMIN" POST /api/v1/assistants "$(body brouillon public "[\"$SITE\"]")" >/dev/null; need 201 "unpublished"
as "$ADMIN" POST /api/v1/assistants "$(body interne internal '[]')" >/dev/null; need 201 "internal"
as "$ADMIN" POST /api/v1/assistants/interne/publish '{}' >/dev/null; need 200 "publish internal"

pub GET /public/v1/assistants/ville-a.guichet "$SITE"; need 200 "public info"
check '.id == "ville-a.guichet" and .welcome == "Bonjour !" and .starters == ["Once upon a time"]' "info"
check '(keys - ["object","id","name","welcome","starters","citations","widget"]) == []' "info shows nothing else"
check '.widget == {"color":"#1d3f8f","position":"bottom-right","title":"guichet","launcher_label":""}' \
    "the default theme, the title resolved to the name"
[ "$(hdr Access-Control-Allow-Origin)" = "$SITE" ] || fail "ACAO on allowed origin"
hdr Vary | grep -q Origin || fail "Vary: Origin"
grep -qi '^set-cookie' "$WORK/hdr" && fail "a cookie was set"
pass "a published public assistant answers its allowed origin"

# ---- the widget's theme: set by the assistant, contrast checked ----
theme() { # theme WIDGET_JSON: PUT on a copy of guichet's spec
    jq -c --argjson w "$1" '{slug,model,welcome,starters,visibility,allowed_origins,params,widget:$w}' \
        "$WORK/guichet.json"
}
as "$ADMIN" GET /api/v1/assistants/guichet >"$WORK/guichet.json"; need 200 "get guichet"
as "$ADMIN" PUT /api/v1/assistants/guichet "$(theme '{"color":"#FFCC00"}')" >/dev/null
need 422 "a light colour"
check '.error.code == "insufficient_contrast" and .error.param == "widget.color"
       and (.error.message | test("#ffcc00 has a contrast ratio of 1\\.[0-9]{2}:1") and test("4\\.5:1"))' \
    "refusal names the colour, its ratio and the bar"
as "$ADMIN" PUT /api/v1/assistants/guichet "$(theme '{"color":"#777"}')" >/dev/null
need 422 "#777 (4.48:1)"; check '.error.code == "insufficient_contrast" and (.error.message | test("4\\.47:1"))' "#777"
as "$ADMIN" PUT /api/v1/assistants/guichet "$(theme '{"color":"#0B5394","position":"top-left"}')" >/dev/null
need 422 "a bad position"; check '.error.code == "invalid_value" and .error.param == "widget.position"' "position"
as "$ADMIN" PUT /api/v1/assistants/guichet "$(theme '{"colour":"#0b5394"}')" >/dev/null
need 422 "unknown field"; check '.error.code == "unknown_field" and .error.param == "widget.colour"' "widget.colour"
as "$ADMIN" PUT /api/v1/assistants/guichet \
    "$(theme '{"color":"#0B5394","position":"bottom-left","title":"Mairie de A","launcher_label":"Une question ?"}')" >/dev/null
need 200 "a readable theme"
check '.widget == {"color":"#0b5394","position":"bottom-left","title":"Mairie de A","launcher_label":"Une question ?"}' \
    "stored canonical (lower case)"
pub GET /public/v1/assistants/ville-a.guichet "$SITE"; need 200 "info before publishing"
check '.widget.color == "#1d3f8f"' "the draft's theme is not public before it is published"
as "$ADMIN" POST /api/v1/assistants/guichet/publish '{}' >/dev/null; need 200 "publish the theme"
pub GET /public/v1/assistants/ville-a.guichet "$SITE"; need 200 "info after publishing"
check '.widget == {"color":"#0b5394","position":"bottom-left","title":"Mairie de A","launcher_label":"Une question ?"}' \
    "the published theme"
pass "widget theme: set by the assistant, public once published; a colour under 4.5:1 with white refused (422 insufficient_contrast)"

for id in ville-a.brouillon ville-a.interne ville-a.nope ville-b.guichet ville-a guichet \
    ville-a.guichet.x 'ville-a.GUICHET' ville-a.-x; do
    pub GET "/public/v1/assistants/$id" "$SITE"; need 404 "id $id"
    check '.error.code == "assistant_not_found"' "404 shape for $id"
    [ -z "$(hdr Access-Control-Allow-Origin)" ] || fail "ACAO on a 404 ($id)"
done
pass "unpublished, internal, unknown and malformed ids all answer the same 404"

pub GET /public/v1/assistants/ville-a.guichet "$OTHER"; need 403 "other origin"
check '.error.code == "origin_not_allowed"' "code"
[ -z "$(hdr Access-Control-Allow-Origin)" ] || fail "ACAO for a refused origin"
pub GET /public/v1/assistants/ville-a.guichet ""; need 403 "no origin"
check '.error.code == "origin_required"' "code"
pub GET /public/v1/assistants/ville-a.guichet "http://127.0.0.1:8766"; need 403 "another port is another origin"
pass "other origins, no origin, another port: 403 without CORS headers"

pub OPTIONS /public/v1/assistants/ville-a.guichet/chat "$SITE" "" \
    -H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: content-type'
need 204 "preflight"
[ "$(hdr Access-Control-Allow-Origin)" = "$SITE" ] || fail "preflight ACAO"
hdr Access-Control-Allow-Methods | grep -q POST || fail "preflight methods"
hdr Access-Control-Allow-Headers | grep -qi content-type || fail "preflight headers"
[ -z "$(hdr Access-Control-Allow-Credentials)" ] || fail "credentials are never allowed"
pub OPTIONS /public/v1/assistants/ville-a.guichet/chat "$OTHER" "" -H 'Access-Control-Request-Method: POST'
need 403 "preflight from another origin"
[ -z "$(hdr Access-Control-Allow-Origin)" ] || fail "preflight ACAO for another origin"
pub OPTIONS /public/v1/assistants/ville-a.guichet/chat "$SITE" "" -H 'Access-Control-Request-Method: DELETE'
need 405 "preflight for DELETE"
pass "CORS preflight"

# ---- chat ----
CHAT=/public/v1/assistants/ville-a.guichet/chat
# every request below comes from its own client (X-Forwarded-For, honoured
# from a loopback peer) so that the rate limit is met only where meant
n=0
fresh() { n=$((n + 1)); CLIENT="198.51.100.7, 203.0.113.$n"; }
fresh; pub POST $CHAT "$SITE" '{"messages":[{"role":"user","content":"Once upon a time"}],"stream":false}'
need 200 "chat"
check '.choices[0].message.content | length > 0' "an answer"
check '.model == "guichet" and (.conversation_id | startswith("conv_"))' "model and conversation"
CONV=$(jq -r .conversation_id "$WORK/resp")
[ "$(hdr Access-Control-Allow-Origin)" = "$SITE" ] || fail "ACAO on chat"
fresh; pub POST $CHAT "$SITE" "{\"messages\":[{\"role\":\"user\",\"content\":\"And then\"}],\"conversation_id\":\"$CONV\",\"stream\":false}"
need 200 "continue"
check ".conversation_id == \"$CONV\"" "same conversation"
as "$ADMIN" GET "/api/v1/conversations/$CONV" >/dev/null; need 200 "conversation recorded"
check '.key_id == "widget" and .assistant == "guichet" and (.subject | test("^widget-[0-9a-f]{16}$")) and (.messages | length) == 4' "recorded under a pseudonymous subject"
fresh; pub POST $CHAT "$SITE" '{"messages":[{"role":"user","content":"Hello"}]}'
need 200 "stream"
grep -q '^data: \[DONE\]' "$WORK/resp" || fail "the stream ends with [DONE]"
hdr Content-Type | grep -q text/event-stream || fail "SSE content type"
[ "$(hdr Access-Control-Allow-Origin)" = "$SITE" ] || fail "ACAO on the stream"
pass "chat: answers, streams, continues, recorded as key 'widget' with a pseudonymous subject"

# ---- the reference a citizen quotes, and the DPO finding them with it ----
fresh; pub POST $CHAT "$SITE" '{"messages":[{"role":"user","content":"Once"}],"stream":false}'
need 200 "chat for a reference"
REF=$(hdr X-Conversation-Reference)
[[ $REF =~ ^[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}$ ]] || fail "reference header: '$REF'"
hdr Access-Control-Expose-Headers | grep -q X-Conversation-Reference || fail "the reference header is not exposed to the page"
RCONV=$(jq -r .conversation_id "$WORK/resp")
fresh; pub POST $CHAT "$SITE" "{\"messages\":[{\"role\":\"user\",\"content\":\"Again\"}],\"conversation_id\":\"$RCONV\",\"stream\":false}"
[ -z "$(hdr X-Conversation-Reference)" ] || fail "a continued conversation gets no new reference"
fresh; pub POST $CHAT "$SITE" '{"messages":[{"role":"user","content":"Hello"}]}'
[[ $(hdr X-Conversation-Reference) =~ ^[0-9A-F-]{19}$ ]] || fail "no reference on a stream"
SUBJ="widget-$(echo "$REF" | tr -d - | tr 'A-F' 'a-f')"
for q in "$REF" "$(echo "$REF" | tr 'A-F-' 'a-f ')" " $REF "; do
    as "$ADMIN" POST /api/v1/gdpr/find "{\"q\":\"$q\"}" >/dev/null; need 200 "find '$q'"
    check ".subject == \"$SUBJ\" and .found_by == \"reference\" and .reference == \"$REF\" and .conversations == 1 and .messages == 4" "found by reference '$q'"
done
as "$ADMIN" POST /api/v1/gdpr/find "{\"q\":\"$RCONV\"}" >/dev/null; need 200 "find by conversation"
check ".subject == \"$SUBJ\" and .found_by == \"conversation\"" "found by conversation id"
as "$ADMIN" POST /api/v1/gdpr/find '{"q":"agent-42"}' >/dev/null; need 200 "find by user"
check '.subject == "agent-42" and .found_by == "user" and .conversations == 0' "a user id as it is"
as "$ADMIN" POST /api/v1/gdpr/find '{"q":"conv_zzzzzzzzzzzzzzzzzzzzzzzz"}' >/dev/null; need 404 "unknown conversation"
check '.error.code == "conversation_not_found"' "404 code"
for b in '{}' '{"q":""}' '{"q":"   "}' '{"q":5}' '{"q":"x","subject":"y"}' 'nope'; do
    as "$ADMIN" POST /api/v1/gdpr/find "$b" >/dev/null
    case $STATUS in 400 | 422) ;; *) fail "find $b: $STATUS" ;; esac
done
USERKEY=$(KEY=$ADMIN api POST /api/v1/keys '{"role":"editor"}' | jq -r .key)
as "$USERKEY" POST /api/v1/gdpr/find "{\"q\":\"$REF\"}" >/dev/null; need 403 "an editor cannot look up people"
as "$OP" POST /api/v1/gdpr/find "{\"q\":\"$REF\"}" >/dev/null
[ "$STATUS" = 403 ] || [ "$STATUS" = 400 ] || fail "the operator reaches no tenant's subjects: $STATUS"
as "$ADMIN" GET /api/v1/audit >/dev/null
check '[.data[] | select(.action == "gdpr.find")] | length >= 5 and all(.target | startswith("subject:"))' "lookups audited by token"
pass "the widget gives each new conversation a reference; the DPO finds the person by it, by conversation id or user id"

# a conversation of an internal assistant cannot be continued through the widget
as "$ADMIN" POST /v1/chat/completions '{"model":"interne","messages":[{"role":"user","content":"Hi"}],"max_tokens":4}' >/dev/null
need 200 "internal chat"
ICONV=$(jq -r .conversation_id "$WORK/resp")
fresh; pub POST $CHAT "$SITE" "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"conversation_id\":\"$ICONV\"}"
need 404 "another assistant's conversation"
check '.error.param == "conversation_id"' "param"
pass "the widget cannot reach another conversation"

bad() { # bad BODY PARAM
    fresh; pub POST $CHAT "$SITE" "$1"
    need 422 "body $1"
    check ".error.param == \"$2\"" "param for $1"
}
bad '{"messages":[]}' messages
bad '{"messages":[{"role":"system","content":"ignore"}]}' messages
bad '{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"ho"}]}' messages
bad '{"messages":[{"role":"user","content":""}]}' messages
bad '{"messages":[{"role":"user","content":"hi","name":"x"}]}' messages
bad '{"messages":[{"role":"user","content":"hi"}],"temperature":2}' temperature
bad '{"messages":[{"role":"user","content":"hi"}],"model":"interne"}' model
bad '{"messages":[{"role":"user","content":"hi"}],"stream":"yes"}' stream
long=$(head -c 4001 /dev/zero | tr '\0' a)
bad "{\"messages\":[{\"role\":\"user\",\"content\":\"$long\"}]}" messages
fresh; pub POST $CHAT "$SITE" '{"messages":'; need 400 "malformed JSON"
pass "strict request bodies: 422 naming the field"

# ---- rate limit: one client (same address, same origin) ----
codes=
for i in $(seq 1 12); do
    CLIENT=192.0.2.99
    pub POST $CHAT "$SITE" '{}'
    codes="$codes $STATUS"
    [ "$STATUS" = 429 ] && break
done
[ "$STATUS" = 429 ] || fail "no 429 after 12 requests:$codes"
[ "$(echo "$codes" | wc -w)" -eq 9 ] || fail "the bucket holds 8 requests:$codes"
check '.error.code == "rate_limit_exceeded"' "429 code"
ra=$(hdr Retry-After)
[ "$ra" -ge 1 ] 2>/dev/null || fail "Retry-After: '$ra'"
[ "$(hdr Access-Control-Allow-Origin)" = "$SITE" ] || fail "the page can read the 429"
hdr Access-Control-Expose-Headers | grep -q Retry-After || fail "Retry-After exposed"
# another client is not limited
CLIENT=192.0.2.100
pub POST $CHAT "$SITE" '{}'; need 422 "another client"
pass "rate limit per client: 429 with Retry-After after 8, others unaffected"

# ---- rate limit: respelling the Origin gives no other bucket ----
# Each spelling below is the allowed origin to the allow-list (scheme case,
# port with leading zeros, IPv4 written another way); the bucket and the
# CORS answer use the canonical origin, so each client gets one bucket of 8.
one_bucket() { # one_bucket CLIENT SPELLING...
    local client=$1 o got codes= acao=
    shift
    for o in "$@"; do
        CLIENT=$client
        pub POST $CHAT "$o" '{}'
        codes="$codes $STATUS"
        got=$(hdr Access-Control-Allow-Origin || true)
        [ "$got" = "$SITE" ] || acao="$acao $o->'$got'"
        [ "$STATUS" = 429 ] && break
        [ "$STATUS" = 422 ] || fail "origin $o: status $STATUS, not 422"
    done
    [ "$STATUS" = 429 ] || fail "respelled origins escaped the rate limit:$codes"
    [ "$(echo "$codes" | wc -w)" -eq 9 ] || fail "respelled origins share one bucket of 8:$codes"
    [ -z "$acao" ] || fail "Access-Control-Allow-Origin is not the canonical origin:$acao"
}
one_bucket 192.0.2.150 HTTP://127.0.0.1:8765 http://127.0.0.1:08765 Http://127.0.0.1:8765 \
    hTTp://127.0.0.1:08765 HTTP://127.0.0.1:08765 hTtP://127.0.0.1:8765 HtTp://127.0.0.1:08765 \
    httP://127.0.0.1:8765 HTtp://127.0.0.1:08765 htTP://127.0.0.1:8765 hTTP://127.0.0.1:8765
one_bucket 192.0.2.152 http://127.1:8765 http://0x7f.0.0.1:08765 http://2130706433:8765 \
    HTTP://127.000.000.001:8765 http://127.0.0.1:0008765 http://0177.0.0.1:8765 \
    http://0x7f.1:8765 http://127.0.1:8765 http://0X7F000001:8765 http://127.0.0.0x1:8765
for o in "http://127.0.0.1:8765/" "http://user@127.0.0.1:8765" "http://127.0.0.1.:8765" null \
    "http://127.0.0.1:" "http://127.0.0.1:8765:8765" "http://[::ffff:127.0.0.1]:8765"; do
    CLIENT=192.0.2.151
    pub POST $CHAT "$o" '{}'
    need 403 "origin '$o'"
    check '.error.code == "origin_not_allowed"' "code for '$o'"
    [ -z "$(hdr Access-Control-Allow-Origin)" ] || fail "ACAO for '$o'"
done
pass "respelled origins: one bucket, the canonical origin in CORS; no canonical form: 403"

# ---- web files ----
curl -sS -D "$WORK/hdr" -o "$WORK/resp" "$URL/" >/dev/null
grep -q '<html lang="fr">' "$WORK/resp" || fail "/ is the console"
hdr Content-Type | grep -q 'text/html; charset=utf-8' || fail "html type"
hdr Content-Security-Policy | grep -q "default-src 'self'" || fail "CSP"
hdr Content-Security-Policy | grep -q "frame-ancestors 'none'" || fail "frame-ancestors"
[ "$(hdr X-Frame-Options)" = DENY ] || fail "X-Frame-Options"
[ "$(hdr X-Content-Type-Options)" = nosniff ] || fail "nosniff"
curl -sS -o "$WORK/resp" "$URL/chat"; grep -q 'assets/chat.js' "$WORK/resp" || fail "/chat"
curl -sS -D "$WORK/hdr" -o "$WORK/resp" "$URL/widget.js"
hdr Content-Type | grep -q 'text/javascript' || fail "widget type"
grep -q 'data-assistant' "$WORK/resp" || fail "widget body"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/assets/app.css")" = 200 ] || fail "HEAD"
for p in /assets/nope.js /assets/../index.html /index.html/ /widget.js.map; do
    [ "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$URL$p")" = 404 ] || fail "$p should be 404"
done
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/")" = 404 ] || fail "POST /"
pass "web files: console at /, chat, widget, headers, HEAD, nothing else"
