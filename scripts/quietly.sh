#!/usr/bin/env bash
# Runs a command with its output in a log file and one line on the terminal,
# so that `make run` shows the demo's banner, not hundreds of build lines.
# On failure the end of the log is shown. VERBOSE=1 shows everything.
#
#   scripts/quietly.sh LOG "what it does" COMMAND...
set -uo pipefail
log=$1 what=$2
shift 2
if [ "${VERBOSE:-0}" = 1 ]; then
    exec "$@"
fi
mkdir -p "$(dirname "$log")"
printf 'libreair: %s (log: %s)\n' "$what" "$log"
start=$(date +%s)
if "$@" >"$log" 2>&1; then
    secs=$(($(date +%s) - start))
    [ "$secs" -ge 5 ] && printf 'libreair: done in %d s\n' "$secs"
    exit 0
else
    rc=$?
    printf 'libreair: failed (exit %d); the end of %s:\n' "$rc" "$log" >&2
    tail -n 40 "$log" >&2
    exit "$rc"
fi
