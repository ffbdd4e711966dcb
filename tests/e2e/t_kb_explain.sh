#!/usr/bin/env bash
# Explained search through HTTP (issue 18, item 5; docs/knowledge-bases.md):
# with "explain": true each result lists the question's words it holds and
# how they matched (exact, stemmed, corrected by the spelling suggester,
# synonym from the base's vocabulary); without it the response is as before;
# "explain" must be a boolean.
source "$(dirname "$0")/lib.sh"

init_data
OP=$KEY
start_server

check() { jq -e "$1" "$WORK/resp" >/dev/null || fail "$2: $(head -c 800 "$WORK/resp")"; }
explain() { expect 200 "$EDITOR" POST /api/v1/knowledge-bases/etat-civil/search "{\"query\":\"$1\",\"explain\":true}"; }

expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville-a","name":"A"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
expect 201 "$ADMIN" POST /api/v1/keys '{"role":"editor"}'
EDITOR=$(jq -r .key "$WORK/resp")
expect 201 "$EDITOR" POST /api/v1/knowledge-bases '{"slug":"etat-civil"}'

DOCS=$WORK/docs
mkdir -p "$DOCS"
printf "L'acte de naissance se demande à la mairie du lieu de naissance.\n" >"$DOCS/naissance.txt"
printf "Le certificat d'immatriculation se demande en ligne sur le site de l'ANTS.\n" >"$DOCS/immatriculation.txt"
STATUS=$(curl -sS -o "$WORK/resp" -w '%{http_code}' -H "Authorization: Bearer $EDITOR" \
    -F "file=@$DOCS/naissance.txt" -F "file=@$DOCS/immatriculation.txt" "$URL/api/v1/knowledge-bases/etat-civil/documents")
[ "$STATUS" = 202 ] || fail "upload: $STATUS $(cat "$WORK/resp")"
JOB=$(jq -r .job_id "$WORK/resp")
for i in $(seq 1 600); do
    expect 200 "$EDITOR" GET "/api/v1/jobs/$JOB"
    state=$(jq -r .state "$WORK/resp")
    [ "$state" = done ] && break
    [ "$state" = failed ] && fail "job failed: $(cat "$WORK/resp")"
    sleep 0.1
done
[ "$state" = done ] || fail "job did not end"

# ---- without explain: the response is unchanged ----
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/etat-civil/search '{"query":"acte de naissance"}'
check '.results[0].document == "naissance.txt" and all(.results[]; has("matches") | not)' "no matches without explain"
expect 200 "$EDITOR" POST /api/v1/knowledge-bases/etat-civil/search '{"query":"acte de naissance","explain":false}'
check 'all(.results[]; has("matches") | not)' "explain false"
pass "without explain (or false): no 'matches', the response as before"

# ---- each way of matching ----
explain "Acte de naissances"
check '.results[0].document == "naissance.txt" and .results[0].matches == [{"term":"Acte","as":"exact","matched":"acte"},{"term":"naissances","as":"stemmed","matched":"naissance"}]' "exact and stemmed"
explain "acte de naissence"
check '.results[0].matches == [{"term":"acte","as":"exact","matched":"acte"},{"term":"naissence","as":"corrected","matched":"naissance"}]' "corrected"
# a typo in the ending, which the stemmer then leaves ("immatriculatoin"
# stays whole, "immatriculation" is immatricul): only the typed word's
# variants find it (spell_suggest_word)
explain "certificat d'immatriculatoin"
check '.results[0].document == "immatriculation.txt" and .results[0].matches == [{"term":"certificat","as":"exact","matched":"certificat"},{"term":"immatriculatoin","as":"corrected","matched":"immatriculation"}]' "corrected, typo in the ending"
explain "J'ai perdu ma carte grise"
check '.results[0].document == "immatriculation.txt" and .results[0].matches == [{"term":"carte grise","as":"synonym","matched":"certificat d'"'"'immatriculation"}]' "synonym"
explain "naissance piscine"
check '(.results | length) == 1 and (.results[0].matches | map(.term)) == ["naissance"]' "absent words give nothing"
pass "matches: exact, stemmed, corrected (naissence → naissance, immatriculatoin → immatriculation), synonym (carte grise → certificat d'immatriculation), absent words left out"

# ---- validation ----
bad() { # bad BODY CODE PARAM
    expect 422 "$EDITOR" POST /api/v1/knowledge-bases/etat-civil/search "$1"
    check ".error.code == \"$2\" and .error.param == \"$3\"" "refused $1"
}
bad '{"query":"acte","explain":"yes"}' invalid_value explain
bad '{"query":"acte","explain":1}' invalid_value explain
bad '{"query":"acte","explain":true,"why":true}' unknown_field why
pass "explain must be a boolean (422 invalid_value), unknown fields 422 unknown_field"
