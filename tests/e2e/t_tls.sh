#!/usr/bin/env bash
# HTTPS and the reverse proxy, with real clients: curl and openssl against
# the real server with a certificate of a test CA made here; TLS 1.2 and 1.3
# only; HSTS; the certificate read again on SIGHUP while a stream goes on
# (it is not dropped, new connections get the new certificate); a
# non-loopback address refused in clear unless --insecure-http; a port in
# use refused; and Debian's nginx in front, with the very configuration of
# docs/examples/nginx-libreair.conf: streams pass token by token, and the
# client's address is taken from X-Forwarded-For only from the trusted
# proxy.
source "$(dirname "$0")/lib.sh"
command -v openssl >/dev/null || fail "openssl is needed (scripts/deps.sh installs it)"
command -v nginx >/dev/null || fail "nginx is needed (scripts/deps.sh installs it)"

# ---- a test CA and two server certificates for 127.0.0.1 ----
T=$WORK/tls
mkdir -p "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=LibreAIr test CA" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null || fail "cannot make the CA"
server_cert() { # NAME SERIAL
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$T/ext"
    openssl x509 -req -in "$T/$1.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -set_serial "$2" -days 2 \
        -extfile "$T/ext" -out "$T/$1.pem" 2>/dev/null || fail "cannot sign $1"
}
server_cert one 1001
server_cert two 2002
cp "$T/one.pem" "$T/server.pem"
cp "$T/one.key" "$T/server.key"

init_data
start_server --model "stories=$STORIES" --slots 2 --ctx 8192 --threads 1 \
    --tls-cert "$T/server.pem" --tls-key "$T/server.key"
[[ $URL == https://127.0.0.1:* ]] || fail "listening line: $URL"
PORT=${URL##*:}
tc() { curl -sS --cacert "$T/ca.pem" "$@"; }

code=$(tc -D "$WORK/hdr" -o /dev/null -w '%{http_code}' "$URL/healthz")
[ "$code" = 200 ] || fail "healthz over TLS: $code"
grep -qi '^strict-transport-security: max-age=31536000' "$WORK/hdr" || fail "no HSTS header"
[ "$(tc -o /dev/null -w '%{http_code}' --tlsv1.2 --tls-max 1.2 "$URL/healthz")" = 200 ] || fail "TLS 1.2"
[ "$(tc -o /dev/null -w '%{http_code}' --tlsv1.3 "$URL/healthz")" = 200 ] || fail "TLS 1.3"
if tc -o /dev/null --tlsv1.1 --tls-max 1.1 "$URL/healthz" 2>/dev/null; then fail "TLS 1.1 accepted"; fi
if curl -sS -o /dev/null --max-time 3 "http://127.0.0.1:$PORT/healthz" 2>/dev/null; then
    fail "plain HTTP answered on the TLS port"
fi
code=$(tc -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"stories","max_tokens":8,"messages":[{"role":"user","content":"Lily"}]}' "$URL/v1/chat/completions")
[ "$code" = 200 ] || fail "chat over TLS: $code $(cat "$WORK/resp")"
pass "HTTPS: TLS 1.2 and 1.3 only, HSTS, plain HTTP refused, chat works"

# ---- certificate read again on SIGHUP, without dropping a stream ----
serial() {
    openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/ca.pem" </dev/null 2>/dev/null |
        openssl x509 -noout -serial | cut -d= -f2
}
[ "$(serial)" = "03E9" ] || fail "serial before reload: $(serial)"
tc -N -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"stories","stream":true,"max_tokens":6000,"ignore_eos":true,"messages":[{"role":"user","content":"Tom"}]}' \
    "$URL/v1/chat/completions" >"$WORK/stream" 2>"$WORK/stream.err" &
STREAM=$!
for i in $(seq 1 100); do grep -q '"content"' "$WORK/stream" 2>/dev/null && break; sleep 0.1; done
cp "$T/two.pem" "$T/server.pem"
cp "$T/two.key" "$T/server.key"
kill -HUP "$SERVER_PID"
for i in $(seq 1 50); do [ "$(serial)" = "07D2" ] && break; sleep 0.1; done
[ "$(serial)" = "07D2" ] || fail "new connections do not get the new certificate: $(serial)"
wait "$STREAM" || fail "the stream under way was dropped by the reload: $(cat "$WORK/stream.err")"
tail -n 3 "$WORK/stream" | grep -q '^data: \[DONE\]' || fail "the stream under way did not end properly"
grep -q 'certificate read again' "$WORK/server.err" || fail "no log line for the reload"
# a broken key is refused and the certificate in use stays
echo "not a key" >"$T/server.key"
kill -HUP "$SERVER_PID"
for i in $(seq 1 50); do grep -q 'the old ones stay' "$WORK/server.err" && break; sleep 0.1; done
grep -q 'the old ones stay' "$WORK/server.err" || fail "a broken key was not reported"
[ "$(serial)" = "07D2" ] || fail "a broken key replaced the certificate"
pass "SIGHUP reads the certificate again; a stream under way finishes; a broken key changes nothing"

# ---- clear text only on loopback; a port in use ----
out=$("$BIN" serve --data "$WORK/data" --listen 0.0.0.0:0 2>&1) && fail "listened in clear on 0.0.0.0"
grep -q 'not a loopback address' <<<"$out" || fail "no reason given: $out"
out=$("$BIN" serve --data "$WORK/data" --listen "127.0.0.1:$PORT" --insecure-http 2>&1) &&
    fail "a second server listened on a port in use"
grep -q 'cannot listen' <<<"$out" || fail "port in use: $out"
"$BIN" serve --data "$WORK/data" --listen 0.0.0.0:0 --insecure-http >"$WORK/insecure.out" 2>&1 &
INSECURE=$!
for i in $(seq 1 100); do grep -q 'listening on http://0.0.0.0' "$WORK/insecure.out" && break; sleep 0.1; done
grep -q 'listening on http://0.0.0.0' "$WORK/insecure.out" || fail "--insecure-http did not start"
kill "$INSECURE"
wait "$INSECURE" || true
pass "clear text beyond loopback needs --insecure-http; a port in use is refused"

# ---- nginx in front, with the documented configuration ----
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=
cp "$T/one.pem" "$T/server.pem"
cp "$T/one.key" "$T/server.key"
# LibreAIr in clear on loopback, trusting only the proxy's own address
start_server --model "stories=$STORIES" --slots 2 --ctx 512 --threads 1 --trusted-proxy 127.0.0.2
BACK=${URL#http://}
NPORT=$((20000 + RANDOM % 20000))
mkdir -p "$T/nginx"
sed -e "s|server 127.0.0.1:8080;.*|server $BACK;|" \
    -e "s|listen 443 ssl http2;.*|listen 127.0.0.1:$NPORT ssl http2;|" \
    -e "s|/etc/ssl/certs/assistant.ville.fr.pem|$T/server.pem|" \
    -e "s|/etc/ssl/private/assistant.ville.fr.key|$T/server.key|" \
    -e "s|proxy_pass http://libreair;|proxy_pass http://libreair;\n        proxy_bind 127.0.0.2;|" \
    "$SRC/docs/examples/nginx-libreair.conf" >"$T/nginx/site.conf"
cat >"$T/nginx/nginx.conf" <<EOF
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $T/nginx/body;
    proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fastcgi;
    uwsgi_temp_path $T/nginx/uwsgi;
    scgi_temp_path $T/nginx/scgi;
    include $T/nginx/site.conf;
}
EOF
nginx -t -c "$T/nginx/nginx.conf" -p "$T/nginx" 2>"$T/nginx/t.log" || { cat "$T/nginx/t.log" >&2; fail "nginx -t"; }
nginx -c "$T/nginx/nginx.conf" -p "$T/nginx" -g 'daemon off;' 2>>"$T/nginx/error.log" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null || true; cleanup' EXIT
P="https://localhost:$NPORT"
for i in $(seq 1 100); do tc -o /dev/null "$P/healthz" 2>/dev/null && break; sleep 0.1; done
[ "$(tc -o /dev/null -w '%{http_code}' "$P/healthz")" = 200 ] || fail "nginx does not reach LibreAIr"
# a stream passes token by token: several chunks, then [DONE]
tc -N -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    -d '{"model":"stories","stream":true,"max_tokens":24,"messages":[{"role":"user","content":"Lily"}]}' \
    "$P/v1/chat/completions" >"$WORK/nstream"
[ "$(grep -c '"content"' "$WORK/nstream")" -ge 3 ] || fail "stream through nginx: $(head -c 300 "$WORK/nstream")"
grep -q '^data: \[DONE\]' "$WORK/nstream" || fail "no [DONE] through nginx"
# the widget's rate limit knows clients by the address nginx appends; a
# client that writes X-Forwarded-For itself gains nothing, and one that
# talks to LibreAIr directly is not believed
as() { local k=$1; shift; KEY=$k api "$@"; }
as "$KEY" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}' >/dev/null
ADMIN=$(jq -r .admin_key "$WORK/resp")
as "$ADMIN" POST /api/v1/assistants '{"slug":"guichet","model":"stories","visibility":"public","allowed_origins":["https://www.ville.fr"],"params":{"max_tokens":4}}' >/dev/null
as "$ADMIN" POST /api/v1/assistants/guichet/publish '{}' >/dev/null
widget() { # BASE XFF -> status
    tc -o /dev/null -w '%{http_code}' -H 'Origin: https://www.ville.fr' -H "X-Forwarded-For: $2" \
        -H 'Content-Type: application/json' -d '{"stream":false,"messages":[{"role":"user","content":"Bonjour"}]}' \
        "$1/public/v1/assistants/ville.guichet/chat"
}
got=""
for i in $(seq 1 10); do got="$got $(widget "$P" "198.51.100.$i")"; done
grep -q 429 <<<"$got" || fail "forged X-Forwarded-For through nginx escaped the rate limit: $got"
got=""
for i in $(seq 1 10); do got="$got $(widget "$URL" "198.51.100.$((50 + i))")"; done
grep -q 429 <<<"$got" || fail "X-Forwarded-For from an untrusted peer was believed: $got"
pass "nginx in front (docs/examples/nginx-libreair.conf): streams pass, X-Forwarded-For believed only from the trusted proxy"
