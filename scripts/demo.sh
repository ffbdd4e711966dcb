#!/usr/bin/env bash
# make run: initialises ./data if needed, finds a model, starts the server and
# tells how to talk to it. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/libreair
DATA=${LIBREAIR_DATA:-./data}
LISTEN=${LIBREAIR_LISTEN:-127.0.0.1:8080}
MODELS=${LIBREAIR_MODELS:-./models}
KEYFILE=$DATA/.demo-operator-key

# The pinned default model, pulled when no model is found (see docs/models-pull.md).
DEFAULT_URL=https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
DEFAULT_SHA256=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d

# quiet COMMAND...: its output only if it fails
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        return 1
    fi
}

if [ ! -f "$DATA/system.db" ]; then
    out=$("$BIN" init --data "$DATA")
    (umask 077 && printf '%s\n' "$(printf '%s\n' "$out" | tail -n1)" >"$KEYFILE")
    echo "demo: initialised $DATA (the operator key is kept in $KEYFILE for this demo only)"
fi
KEY=$(cat "$KEYFILE" 2>/dev/null || echo "<the operator key printed by 'libreair init'>")

# The demo organisation: a fictional commune with a knowledge base of its own
# documents (demo/documents, written for the project) and a published
# assistant over it.
DEMO_KEYFILE=$DATA/.demo-admin-key
if [ ! -d "$DATA/tenants/demo" ]; then
    (umask 077 && "$BIN" tenant create --admin-key demo --name "Belleville-sur-Loir (démo)" --data "$DATA" | tail -n1 >"$DEMO_KEYFILE.tmp")
    mv "$DEMO_KEYFILE.tmp" "$DEMO_KEYFILE"
    quiet "$BIN" kb create --tenant demo --name "Démarches" --data "$DATA" demarches
    quiet "$BIN" kb ingest --tenant demo --kb demarches --data "$DATA" demo/documents
    quiet "$BIN" assistant apply --tenant demo --publish --data "$DATA" demo/accueil.json
    echo "demo: created tenant 'demo' with the knowledge base 'demarches' and the assistant 'accueil'"
fi
DEMO_KEY=$(cat "$DEMO_KEYFILE" 2>/dev/null || echo "<the demo admin key>")

model=${LIBREAIR_MODEL:-}
if [ -z "$model" ]; then
    model=$(ls "$MODELS"/*.gguf 2>/dev/null | head -n1 || true)
fi
if [ -z "$model" ] && [ -f ../shared/models/stories260K.gguf ]; then
    model=../shared/models/stories260K.gguf
fi
if [ -z "$model" ]; then
    echo "demo: no model found; trying to pull the pinned default model"
    if model=$("$BIN" model pull "$DEFAULT_URL" --sha256 "$DEFAULT_SHA256" --models-dir "$MODELS" | tail -n1); then
        :
    else
        echo "demo: offline or download failed: starting without a model"
        model=
    fi
fi

args=(serve --data "$DATA" --listen "$LISTEN")
[ -n "$model" ] && args+=(--model "default=$model")
# make run OIDC=1: sign-in with the TEST provider of `make oidc-demo`
# (configured like ProConnect, http://127.0.0.1:9400; docs/oidc.md)
if [ "${LIBREAIR_OIDC_DEMO:-}" = 1 ]; then
    conf=$DATA/.demo-oidc.json
    cat >"$conf" <<JSON
{"oidc": {"public_url": "http://$LISTEN", "providers": [
  {"id": "proconnect", "name": "ProConnect (fournisseur de test)", "issuer": "http://127.0.0.1:9400",
   "client_id": "libreair-demo", "client_secret": "demo-secret-change-me",
   "scopes": "openid email given_name usual_name siret uid", "acr_values": "eidas1",
   "required_acr": "eidas1"}]}}
JSON
    args+=(--config "$conf")
fi
"$BIN" "${args[@]}" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' INT TERM EXIT
url=http://$LISTEN
for _ in $(seq 1 300); do
    curl -fsS "$url/readyz" >/dev/null 2>&1 && break
    kill -0 $pid 2>/dev/null || { echo "demo: the server stopped"; exit 1; }
    sleep 0.2
done
if [ "${LIBREAIR_OIDC_DEMO:-}" = 1 ] && [[ $DEMO_KEY == lair_* ]]; then
    # the demo commune lets in the agents of its SIRET (the test accounts)
    curl -fsS -X PUT "$url/api/v1/access" -H "Authorization: Bearer $DEMO_KEY" \
        -H 'Content-Type: application/json' \
        -d '{"rules":[{"kind":"siret","value":"21750001600019","role":"editor"}]}' >/dev/null ||
        echo "demo: could not declare the demo SIRET"
    curl -fsS -X POST "$url/api/v1/members" -H "Authorization: Bearer $DEMO_KEY" \
        -H 'Content-Type: application/json' \
        -d '{"email":"jean.martin@mairie-exemple.fr","role":"admin"}' >/dev/null 2>&1 || true
    cat <<MSG

  Sign-in with OpenID Connect: run 'make oidc-demo' in another terminal (a TEST provider
  configured like ProConnect), then "Se connecter avec ProConnect" on the console;
  accounts: agent-1 (editor, by the commune's SIRET), agent-2 (named admin).
MSG
fi
cat <<MSG

  LibreAIr is running at $url  (model: ${model:-none — degraded mode: cited excerpts})

  Console and chat:        $url/            sign in with the demo admin key below
  Demo admin key:          $DEMO_KEY
  Operator key:            $KEY

  Ask the demo assistant:  $BIN chat --url $url --key $DEMO_KEY accueil
  Or with curl:            curl $url/v1/chat/completions -H "Authorization: Bearer $DEMO_KEY" \\
                             -H 'Content-Type: application/json' \\
                             -d '{"model":"accueil","messages":[{"role":"user","content":"Comment obtenir un acte de naissance ?"}]}'
  Raw model (operator):    $BIN chat --url $url --key $KEY default
  Metrics:                 curl $url/metrics
  Stop:                    Ctrl-C

  The demo model ($(basename "${model:-none}")) writes English children's stories: the
  answers show the whole path (retrieval, cited sources), not real knowledge.
  Add a real model: README.md, "Adding a real model".

MSG
rc=0
wait $pid || rc=$?
trap - EXIT
exit $rc
