#!/usr/bin/env bash
# What the server did, against what libreair.service lets it do. systemd
# cannot run in t_deb.sh's chroot, so the unit's sandbox is not applied
# there; instead t_deb.sh traces the server (strace -f) while it serves TLS,
# loads and runs a model, writes tenants and reloads, and this script checks
# the trace against the unit's directives:
#
#   SystemCallFilter=            every system call made is allowed
#   RestrictAddressFamilies=     every socket is of an allowed family
#   MemoryDenyWriteExecute=yes   no writable-and-executable mapping, no
#                                mprotect(PROT_EXEC)
#   ProcSubset=pid               no /proc file but the processes' own
#   ProtectSystem=strict         no file written but under StateDirectory=,
#   PrivateTmp=, PrivateDevices= /tmp, /var/tmp and /dev/shm; no device
#                                opened but the ones a private /dev has
#
#   tests/pkg/sandbox_check.sh TRACE UNIT    prints what it checked; exits 1
#                                            with each violation otherwise
# TRACE: strace -f -qq -o TRACE output of the command that execs
# /usr/bin/libreair (what runs before that exec is not looked at).
set -euo pipefail
trace=${1:?usage: sandbox_check.sh TRACE UNIT}
unit=${2:?usage: sandbox_check.sh TRACE UNIT}
# violations go to a file: most are found in pipelines (subshells)
violation() { echo "sandbox: $*" | tee -a "$server.bad" >&2; }
setting() { sed -n "s/^$1=//p" "$unit"; }
# grep -E that is not an error when nothing matches
matches() { grep -E "$@" || true; }

# the server's part of the trace: from its execve on (its threads included)
server=$(mktemp)
trap 'rm -f "$server" "$server".*' EXIT
: >"$server.bad"
awk 'f || /execve\("\/usr\/bin\/libreair"/ {f = 1; print}' "$trace" >"$server"
[ -s "$server" ] || { echo "sandbox: no execve of /usr/bin/libreair in $trace" >&2; exit 1; }

# ---- SystemCallFilter= ---------------------------------------------------------
expand() { # @group or name -> the system call names
    case $1 in
        @*) systemd-analyze syscall-filter "$1" | awk 'NR > 1 && NF && $1 !~ /^#/ {print $1}' |
            while read -r x; do expand "$x"; done ;;
        *) echo "$1" ;;
    esac
}
: >"$server.allow"
: >"$server.deny"
while read -r line; do
    [ -n "$line" ] || continue
    if [ "${line#\~}" != "$line" ]; then
        for x in ${line#\~}; do expand "$x"; done >>"$server.deny"
    else
        for x in $line; do expand "$x"; done >>"$server.allow"
    fi
done < <(setting SystemCallFilter)
sort -u -o "$server.allow" "$server.allow"
sort -u -o "$server.deny" "$server.deny"
comm -23 "$server.allow" "$server.deny" >"$server.allowed"
sed -n 's/^[0-9]\+ \+\([a-z0-9_]\+\)(.*/\1/p' "$server" | sort -u >"$server.used"
n_used=$(wc -l <"$server.used")
if [ -s "$server.allow" ]; then
    for s in $(comm -23 "$server.used" "$server.allowed"); do
        violation "SystemCallFilter= refuses $s (EPERM): $(matches -m1 " $s\\(" "$server" | cut -c1-160)"
    done
fi

# ---- RestrictAddressFamilies= -------------------------------------------------------
families=$(setting RestrictAddressFamilies | tail -n1)
if [ -n "$families" ]; then
    while read -r fam; do
        case " $families " in
            *" $fam "*) ;;
            *) violation "RestrictAddressFamilies= refuses $fam: $(matches -m1 "socket\\($fam" "$server" | cut -c1-160)" ;;
        esac
    done < <(sed -n 's/.* socket(\(AF_[A-Z0-9]*\).*/\1/p' "$server" | sort -u)
fi

# ---- MemoryDenyWriteExecute= ---------------------------------------------------------
if [ "$(setting MemoryDenyWriteExecute | tail -n1)" = yes ]; then
    while read -r l; do
        [ -z "$l" ] || violation "MemoryDenyWriteExecute= refuses: ${l:0:160}"
    done < <(matches ' (mmap|mmap2)\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)' "$server"
        matches ' (mprotect|pkey_mprotect)\([^,]*, [^,]*, [^)]*PROT_EXEC' "$server")
fi

# ---- files: /proc, writes, devices ----------------------------------------------------
# successful opens by absolute path (or relative to the working directory, /)
opens=$(sed -n 's/^[0-9]\+ \+\(open\|openat\)(\(AT_FDCWD, \)\?"\([^"]*\)", \([A-Z_|]*\).*) = [0-9].*/\3 \4/p' "$server" |
    sed 's|^\([^/]\)|/\1|' | sort -u)
# /proc files the server reads but does without: ggml reads /proc/cpuinfo
# for the CPU's name only (its device description, "CPU" without it, which
# LibreAIr never shows)
proc_hidden_ok='^/proc/cpuinfo '
if [ "$(setting ProcSubset | tail -n1)" = pid ]; then
    while read -r p _; do
        [ -z "$p" ] || violation "ProcSubset=pid hides $p"
    done < <(matches '^/proc/' <<<"$opens" | matches -v '^/proc/(self|thread-self|[0-9]+)(/| )' |
        matches -v "$proc_hidden_ok")
fi
writable='^/var/lib/libreair(/| )|^/tmp/|^/var/tmp/|^/dev/(null|shm/)'
while read -r p f; do
    [ -z "$p" ] || violation "ProtectSystem=strict makes $p read-only ($f)"
done < <(matches ' [A-Z_|]*(O_WRONLY|O_RDWR|O_CREAT)' <<<"$opens" | matches -v "$writable")
if [ "$(setting PrivateDevices | tail -n1)" = yes ]; then
    while read -r p _; do
        [ -z "$p" ] || violation "PrivateDevices= hides $p"
    done < <(matches '^/dev/' <<<"$opens" |
        matches -v '^/dev/(null|zero|full|random|urandom|tty|ptmx|log|stdin|stdout|stderr|fd/|pts/|shm/)')
fi
n_opens=$(wc -l <<<"$opens")
families_used=$(sed -n 's/.* socket(\(AF_[A-Z0-9]*\).*/\1/p' "$server" | sort -u | paste -sd' ')

[ ! -s "$server.bad" ] || exit 1
echo "$n_used distinct system calls, $n_opens files opened, sockets ${families_used:-none}: all within the unit's sandbox"
