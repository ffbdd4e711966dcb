#!/usr/bin/env bash
# Crash loop: the real server (stories260K) is killed with -9 at a random
# moment, round after round, while it ingests documents, answers chats that
# record conversations, erases subjects (GDPR) and purges conversations past
# their retention (its background job every second, and `libreair gdpr
# purge` beside it, killed too). After every restart:
#   - PRAGMA integrity_check is ok on system.db and every tenant database;
#   - `libreair audit verify` is ok for the operator and the tenant;
#   - every acknowledged upload (202 with a job_id) has its job, and each
#     file of it is pending (the job resumes), indexed with its document
#     whole, or failed with a reason: never silently missing;
#   - every acknowledged chat (200 with its conversation_id) has its whole
#     exchange stored (user turn and answer), unless its assistant's
#     retention purged it; no exchange is ever half stored, and nothing
#     purged comes back;
#   - nothing of an erased subject (acknowledged 200) is in any file under
#     the data directory, -wal files included: its canaries and its id,
#     searched again every round;
# and at the end every job has ended (done or failed with a reason) and
# every purged conversation has left no trace either.
#
# Seeded: LAIR_CRASH_SEED replays a run's plan (the operations and the kill
# delays; what a kill interrupts still depends on timing), LAIR_CRASH_ROUNDS
# widens it (default 100). docs/testing.md.
source "$(dirname "$0")/lib.sh"

SEED=${LAIR_CRASH_SEED:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
ROUNDS=${LAIR_CRASH_ROUNDS:-100}
RANDOM=$SEED
echo "crash loop: seed $SEED, $ROUNDS rounds (replay with LAIR_CRASH_SEED=$SEED)"
T0=$(date +%s)

export LIBREAIR_PURGE_INTERVAL=1
# the purge's clock two days ahead: the 'ephemere' assistant's conversations
# (retention 1 day) are past their retention as soon as they are written
LIBREAIR_GDPR_TEST_NOW=$(($(date +%s) + 2 * 86400))
export LIBREAIR_GDPR_TEST_NOW
SERVE_ARGS=(--model "stories=$STORIES" --slots 1 --ctx 256 --threads 1)
DATA=$WORK/data
ST=$WORK/state # what the test knows, one file per kind
OPS=$WORK/ops  # one directory per operation of the current round
mkdir -p "$ST" "$OPS"
touch "$ST/uploads" "$ST/chats" "$ST/erased" "$ST/purged" "$ST/retry_erase" "$ST/erase_attempted"

as() { # as KEY METHOD PATH [BODY]: the body in $WORK/resp, the status in STATUS
    local save=$KEY
    KEY=$1
    shift
    api "$@" >/dev/null
    KEY=$save
}
expect() { # expect STATUS KEY METHOD PATH [BODY]
    local want=$1
    shift
    as "$@"
    [ "$STATUS" = "$want" ] || fail "$2 $3: got $STATUS, want $want: $(head -c 400 "$WORK/resp")"
}
# A unique string of fixed width, so that no canary is a prefix of another.
canary() { printf 'CANARY-%05d-%05d-Z' "$SEED" "$1"; }
NEXT=0
next_id() { NEXT=$((NEXT + 1)); }
# read only: a reader that closed last would checkpoint the log of a killed
# server before the server recovers it itself
sql() { sqlite3 -batch -noheader -readonly "$@"; }

# ---- setup ----
init_data
OP=$KEY
start_server "${SERVE_ARGS[@]}"
expect 201 "$OP" POST /api/v1/tenants '{"admin_key":true,"slug":"ville","name":"Ville"}'
ADMIN=$(jq -r .admin_key "$WORK/resp")
TDB=$DATA/tenants/ville/tenant.db
expect 201 "$ADMIN" POST /api/v1/knowledge-bases '{"slug":"docs","name":"Documents"}'
for a in garde:0 ephemere:1; do
    expect 201 "$ADMIN" POST /api/v1/assistants \
        "{\"slug\":\"${a%:*}\",\"model\":\"stories\",\"instructions\":\"Tell a story.\",\"retention_days\":${a#*:}}"
    expect 200 "$ADMIN" POST "/api/v1/assistants/${a%:*}/publish" '{}'
done
# subjects that chats use; an erased one is never used again
SUBJECTS=()
new_subject() { next_id; SUBJECTS+=("$(printf 'habitant-%05d-%05d-Z' "$SEED" "$NEXT")"); }
new_subject
new_subject
new_subject

# ---- operations: each runs in the background and leaves its outcome in $OPS/<n>/ ----
op_upload() { # op_upload DIR NAME KB_SIZE
    local d=$1 name=$2 size=$3
    awk -v n="$size" -v w="$name" 'BEGIN {
        for (i = 0; i < n; i++)
            printf "## Section %d\n\nLe conseil municipal délibère sur le budget %d, la voirie et l'\''école (%s).\n\n", i, i, w }' \
        >"$d/$name"
    curl -sS --max-time 30 -o "$d/body" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
        -F "file=@$d/$name" "$URL/api/v1/knowledge-bases/docs/documents" >"$d/status" 2>/dev/null || true
}
op_chat() { # op_chat DIR ASSISTANT SUBJECT TEXT
    local body
    body=$(jq -cn --arg m "$2" --arg u "$3" --arg t "$4" \
        '{model:$m,user:$u,messages:[{role:"user",content:$t}],max_tokens:8,temperature:0}')
    curl -sS --max-time 30 -o "$1/body" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' --data-binary "$body" \
        "$URL/v1/chat/completions" >"$1/status" 2>/dev/null || true
}
op_erase() { # op_erase DIR SUBJECT
    curl -sS --max-time 30 -o "$1/body" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" \
        -H 'Content-Type: application/json' --data-binary "$(jq -cn --arg s "$2" '{subject:$s}')" \
        "$URL/api/v1/gdpr/erase" >"$1/status" 2>/dev/null || true
}
op_purge() { # op_purge DIR: the CLI beside the server, killed with it (by its pid)
    "$BIN" gdpr purge --data "$DATA" >"$1/out" 2>&1 &
    echo $! >"$1/pid"
    local rc=0
    wait $! || rc=$?
    echo "$rc" >"$1/status"
}

PIDS=()
N_OPS=0
launch() { # launch KIND ARGS...: starts op_KIND in the background in a new $OPS/<n>
    local kind=$1
    shift
    N_OPS=$((N_OPS + 1))
    local d=$OPS/$N_OPS
    mkdir -p "$d"
    echo "$kind" >"$d/kind"
    printf '%s\n' "$@" >"$d/args"
    "op_$kind" "$d" "$@" 2>/dev/null &
    PIDS+=($!)
}

chat_op() { # chat_op [ASSISTANT]: a chat of a random subject, with a new canary
    next_id
    local subject=${SUBJECTS[$((RANDOM % ${#SUBJECTS[@]}))]}
    local assistant=${1:-garde}
    if [ $# = 0 ] && [ $((RANDOM % 3)) = 0 ]; then assistant=ephemere; fi
    local c
    c=$(canary "$NEXT")
    echo "$subject $c" >>"$ST/canaries" # every attempt: an erasure must remove it too
    launch chat "$assistant" "$subject" "Once upon a time $c"
}
upload_op() {
    next_id
    launch upload "$(printf 'doc-%05d-%05d.md' "$SEED" "$NEXT")" $((200 + RANDOM % 1800))
}
erase_op() { # erases one subject in use, which a new one replaces (no chat for it from now on)
    local i=$((RANDOM % ${#SUBJECTS[@]}))
    local s=${SUBJECTS[$i]}
    SUBJECTS=("${SUBJECTS[@]:0:$i}" "${SUBJECTS[@]:$((i + 1))}")
    new_subject
    echo "$s" >>"$ST/erase_attempted"
    launch erase "$s"
}

# ---- the rounds ----
declare -A KILLS=([ingestion]=0 [chat]=0 [erasure]=0 [purge]=0)
declare -A CUT=([ingestion]=0 [chat]=0 [erasure]=0 [purge]=0) # kills of a request (or CLI) under way
# what the files show right after a kill: work the server had under way
AT_JOB=0 AT_ERASE=0 AT_SCRUB=0 AT_PURGE=0
ACK_UPLOADS=0 ACK_CHATS=0 ACK_ERASURES=0 PURGES=0 KILLED_PURGES=0

# collect: reads the outcomes of the round's operations; returns (in CUT_ANY)
# whether one had no answer (the kill interrupted it)
collect() {
    CUT_ANY=0
    local d kind st
    for d in "$OPS"/*/; do
        [ -f "$d/kind" ] || continue
        kind=$(cat "$d/kind")
        st=$(cat "$d/status" 2>/dev/null || echo 000)
        mapfile -t args <"$d/args"
        case $kind in
        upload)
            if [ "$st" = 202 ]; then
                echo "$(jq -r .job_id "$d/body")|${args[0]}" >>"$ST/uploads"
                ACK_UPLOADS=$((ACK_UPLOADS + 1))
            elif [ "$st" = 000 ]; then CUT_ANY=1; fi
            ;;
        chat)
            local c=${args[2]##* }
            [ -n "${LAIR_CRASH_DEBUG:-}" ] && echo "chat $st $(head -c 200 "$d/body" 2>/dev/null)" >&2
            if [ "$st" = 200 ]; then
                local cid
                cid=$(jq -r '.conversation_id // empty' "$d/body")
                [[ $cid == conv_* ]] || fail "chat answered without a conversation_id: $(head -c 300 "$d/body")"
                echo "$cid|${args[0]}|$c|${args[1]}" >>"$ST/chats"
                ACK_CHATS=$((ACK_CHATS + 1))
            elif [ "$st" = 000 ]; then CUT_ANY=1; fi
            ;;
        erase)
            if [ "$st" = 200 ]; then
                # the subject's id and every canary planted for it: gone for good
                echo "${args[0]}" >>"$ST/erased"
                awk -v s="${args[0]}" '$1 == s { print $2 }' "$ST/canaries" >>"$ST/erased"
                echo "${args[0]} $(jq -r '.scrubbed' "$d/body")" >>"$ST/erased_now"
                ACK_ERASURES=$((ACK_ERASURES + 1))
            else
                [ "$st" = 000 ] && CUT_ANY=1
                echo "${args[0]}" >>"$ST/retry_erase"
            fi
            ;;
        purge)
            if [ "$st" = 0 ]; then
                PURGES=$((PURGES + 1))
            else
                KILLED_PURGES=$((KILLED_PURGES + 1))
                CUT_ANY=1
            fi
            ;;
        esac
    done
    rm -rf "${OPS:?}"/*
}

# no_trace WHAT: no file under the data directory holds an erased string
no_trace() {
    [ -s "$ST/erased" ] || return 0
    local hits
    hits=$(grep -rlaF -f "$ST/erased" "$DATA" 2>/dev/null || true)
    [ -z "$hits" ] || fail "$1: erased data in $hits: $(grep -raoF -f "$ST/erased" "$DATA" | head -3)"
}

verify() { # verify ROUND
    local r=$1 f
    # databases sound
    for f in "$DATA/system.db" "$DATA"/tenants/*/tenant.db; do
        [ "$(sql "$f" 'PRAGMA integrity_check')" = ok ] ||
            fail "round $r (seed $SEED): integrity_check of $f: $(sql "$f" 'PRAGMA integrity_check' | head -5)"
    done
    "$BIN" audit verify --data "$DATA" >"$WORK/verify.out" 2>&1 ||
        fail "round $r (seed $SEED): audit verify (operator): $(cat "$WORK/verify.out")"
    "$BIN" audit verify --data "$DATA" --tenant ville >"$WORK/verify.out" 2>&1 ||
        fail "round $r (seed $SEED): audit verify (ville): $(cat "$WORK/verify.out")"

    # uploads: the job exists; each file pending, indexed (its document whole) or failed with a reason
    sql "$TDB" "SELECT f.job_id, f.name, f.state, coalesce(f.error, ''),
                  (SELECT count(*) FROM documents d WHERE d.kb = 'docs' AND d.name = f.name),
                  (SELECT count(*) FROM documents d JOIN chunks c ON c.document_id = d.id
                     WHERE d.kb = 'docs' AND d.name = f.name)
                FROM job_files f" >"$WORK/files.now"
    awk -F'|' 'FNR == NR { st[$1 "|" $2] = $3; err[$1 "|" $2] = $4; nd[$1 "|" $2] = $5
                           nc[$1 "|" $2] = $6; next }
        { k = $1 "|" $2
          if (!(k in st)) { print "acknowledged upload " $2 " (job " $1 ") is missing"; bad = 1; next }
          if (st[k] == "indexed" && (nd[k] != 1 || nc[k] < 1)) { print $2 " is indexed, its document is not whole"; bad = 1 }
          if (st[k] == "failed" && err[k] == "") { print $2 " failed without a reason"; bad = 1 } }
        END { exit bad }' "$WORK/files.now" "$ST/uploads" >"$WORK/bad" ||
        fail "round $r (seed $SEED): $(cat "$WORK/bad")"
    [ "$(sql "$TDB" "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id) AND NOT EXISTS (SELECT 1 FROM chunk_refs r WHERE r.document_id = d.id)")" = 0 ] ||
        fail "round $r (seed $SEED): a document without its chunks"

    # chats: exchanges whole; acknowledged ones present unless purged or their subject erased;
    # purged ones stay gone
    sql "$TDB" "SELECT c.id, c.assistant, count(m.id),
                  (SELECT content FROM messages u WHERE u.conversation_id = c.id AND u.role = 'user')
                FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id" \
        >"$WORK/convs.now"
    awk -F'|' '$3 != 2 { print; bad = 1 } END { exit bad }' "$WORK/convs.now" >"$WORK/bad" ||
        fail "round $r (seed $SEED): an exchange half stored (id|assistant|messages|user turn): $(cat "$WORK/bad")"
    awk -F'|' -v newly="$WORK/purged.new" '
        FILENAME == ARGV[1] { conv[$1] = $0; next }
        FILENAME == ARGV[2] { purged[$1] = 1; next }
        FILENAME == ARGV[3] { erased[$1] = 1; next }
        { if ($1 in conv) {
              if ($1 in purged) { print "purged conversation " $1 " is back"; bad = 1 }
              else if (conv[$1] != $1 "|" $2 "|2|Once upon a time " $3) {
                  print "conversation " $1 " is not the acknowledged exchange: " conv[$1]; bad = 1 }
          } else if (!($4 in erased) && !($1 in purged)) {
              if ($2 == "ephemere") print $1 > newly
              else { print "acknowledged exchange " $1 " (" $3 ") is lost"; bad = 1 } } }
        END { exit bad }' "$WORK/convs.now" "$ST/purged" "$ST/erase_attempted" "$ST/chats" \
        >"$WORK/bad" || fail "round $r (seed $SEED): $(cat "$WORK/bad")"
    if [ -f "$WORK/purged.new" ]; then
        cat "$WORK/purged.new" >>"$ST/purged"
        rm -f "$WORK/purged.new"
    fi

    # erasures: what was erased before this round stays gone; what was erased now is gone at
    # once when the answer said scrubbed, else by the next purge run (every second)
    if [ -s "$ST/erased_now" ]; then
        local i
        for i in $(seq 1 100); do
            grep -rqaF -f "$ST/erased" "$DATA" 2>/dev/null || break
            if ! grep -q ' false$' "$ST/erased_now"; then break; fi
            sleep 0.1
        done
        rm -f "$ST/erased_now"
    fi
    no_trace "round $r (seed $SEED)"
}

for round in $(seq 1 "$ROUNDS"); do
    PIDS=()
    case $((RANDOM % 4)) in
    0) PHASE=ingestion ;;
    1) PHASE=chat ;;
    2) PHASE=erasure ;;
    3) PHASE=purge ;;
    esac
    # erasures that were not acknowledged are asked again, as a DPO would
    if [ -s "$ST/retry_erase" ]; then
        while read -r s; do launch erase "$s"; done <"$ST/retry_erase"
        : >"$ST/retry_erase"
    fi
    # the operations, and the latest moment of the kill (ms): long enough for
    # the phase's work to be under way, often still under way
    case $PHASE in
    ingestion)
        upload_op
        upload_op
        if [ $((RANDOM % 2)) = 0 ]; then chat_op; fi
        LATEST=900 # an upload is answered in tens of ms, indexed in hundreds
        ;;
    chat) chat_op; chat_op; chat_op; LATEST=300 ;;
    erasure) erase_op; chat_op; LATEST=250 ;; # the erased subject first: the chat is another's
    purge) # conversations past their retention first, then the purges (the server's runs
        # every second) with the kill
        chat_op ephemere
        chat_op ephemere
        for p in "${PIDS[@]}"; do wait "$p" || true; done
        launch purge
        LATEST=300
        ;;
    esac
    sleep "0.$(printf '%03d' $((RANDOM % LATEST)))"
    kill -9 "$SERVER_PID" 2>/dev/null || true
    for f in "$OPS"/*/pid; do # the CLI purge at the same moment, unless it has ended
        if [ -f "$f" ] && [ ! -f "${f%/pid}/status" ]; then kill -9 "$(cat "$f")" 2>/dev/null || true; fi
    done
    wait "$SERVER_PID" 2>/dev/null || true
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    SERVER_PID=
    KILLS[$PHASE]=$((KILLS[$PHASE] + 1))
    # what the kill interrupted, as the files show it before the restart
    read -r j g sc p < <(sql "$TDB" "SELECT (SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')),
        (SELECT count(*) FROM gdpr_pending), (SELECT count(*) FROM settings WHERE key = 'gdpr.scrub'),
        (SELECT count(*) FROM conversations WHERE assistant = 'ephemere')" | tr '|' ' ')
    [ "$j" -gt 0 ] && AT_JOB=$((AT_JOB + 1))
    [ "$g" -gt 0 ] && AT_ERASE=$((AT_ERASE + 1))
    [ "$sc" -gt 0 ] && AT_SCRUB=$((AT_SCRUB + 1))
    [ "$p" -gt 0 ] && AT_PURGE=$((AT_PURGE + 1))
    collect
    [ "$CUT_ANY" = 1 ] && CUT[$PHASE]=$((CUT[$PHASE] + 1))
    start_server "${SERVE_ARGS[@]}"
    verify "$round"
done

# ---- the end: every job ends; every purged conversation leaves no trace ----
for i in $(seq 1 600); do
    [ "$(sql "$TDB" "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")" = 0 ] && break
    sleep 0.1
done
[ "$(sql "$TDB" "SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')")" = 0 ] ||
    fail "jobs did not end: $(sql "$TDB" "SELECT id, state, done, total FROM jobs WHERE state IN ('queued', 'running')")"
[ "$(sql "$TDB" "SELECT count(*) FROM job_files WHERE state = 'pending' OR (state = 'failed' AND coalesce(error, '') = '')")" = 0 ] ||
    fail "files pending or failed without a reason after the jobs ended"
verify final
awk -F'|' '$2 == "ephemere" { print $3 }' "$ST/chats" >"$WORK/ephemeral"
for i in $(seq 1 200); do
    [ "$(sql "$TDB" "SELECT count(*) FROM conversations WHERE assistant = 'ephemere'")" = 0 ] &&
        ! grep -rqaF -f "$WORK/ephemeral" "$DATA" 2>/dev/null && break
    sleep 0.1
done
[ "$(sql "$TDB" "SELECT count(*) FROM conversations WHERE assistant = 'ephemere'")" = 0 ] ||
    fail "the background purge left ephemeral conversations"
if [ -s "$WORK/ephemeral" ] && grep -rqaF -f "$WORK/ephemeral" "$DATA"; then
    fail "purged conversations left a trace: $(grep -rlaF -f "$WORK/ephemeral" "$DATA")"
fi

JOBS_DONE=$(sql "$TDB" "SELECT count(*) FROM jobs WHERE state = 'done'")
JOBS_FAILED=$(sql "$TDB" "SELECT count(*) FROM jobs WHERE state = 'failed'")
FILES_FAILED=$(sql "$TDB" "SELECT count(*) FROM job_files WHERE state = 'failed'")
echo "crash loop: seed $SEED, $ROUNDS rounds in $(($(date +%s) - T0)) s"
echo "  kills by phase: ingestion ${KILLS[ingestion]} (${CUT[ingestion]} with a request or the CLI under way)," \
    "chat ${KILLS[chat]} (${CUT[chat]}), erasure ${KILLS[erasure]} (${CUT[erasure]})," \
    "purge ${KILLS[purge]} (${CUT[purge]})"
echo "  found in the files after a kill: a job unfinished $AT_JOB times, an erasure pending" \
    "$AT_ERASE, a scrub pending $AT_SCRUB, conversations past their retention $AT_PURGE"
echo "  acknowledged: $ACK_UPLOADS uploads (jobs: $JOBS_DONE done, $JOBS_FAILED failed;" \
    "$FILES_FAILED files failed with a reason), $ACK_CHATS chats," \
    "$ACK_ERASURES erasures; CLI purges: $PURGES finished, $KILLED_PURGES killed"
sql "$TDB" "SELECT count(*), error FROM job_files WHERE state = 'failed' GROUP BY error" |
    sed 's/^\([0-9]*\)|/  files failed: \1 × /'
echo "  erased strings checked every round: $(wc -l <"$ST/erased");" \
    "purged conversations: $(wc -l <"$ST/purged") seen gone, $(wc -l <"$WORK/ephemeral") ephemeral in all"
pass "crash loop: $ROUNDS kill -9 rounds, databases sound, audit intact, nothing acknowledged lost, nothing erased back"
