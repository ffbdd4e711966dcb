# Shared by the benchmark scripts (sourced): waiting for a `libreair serve`
# started in the background.
#
# lair_wait_ready STDOUT PID [TRIES [PAUSE]]: waits until the server whose
# standard output goes to STDOUT prints its ready line (TRIES × PAUSE
# seconds at most: 600 × 0.1 by default), then prints the base URL it
# listens on. Returns 1 when the process exits first or never says it is
# ready, 2 when it never printed its address.
lair_wait_ready() {
    local out=$1 pid=$2 tries=${3:-600} pause=${4:-0.1} base=
    for _ in $(seq 1 "$tries"); do
        kill -0 "$pid" 2>/dev/null || return 1
        [ -z "$base" ] && base=$(sed -n 's/^libreair: listening on \(http:[^ ]*\).*/\1/p' "$out")
        grep -q '^libreair: ready' "$out" && break
        sleep "$pause"
    done
    grep -q '^libreair: ready' "$out" || return 1
    [ -n "$base" ] || return 2
    printf '%s\n' "$base"
}
