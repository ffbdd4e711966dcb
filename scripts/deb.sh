#!/usr/bin/env bash
# make deb: builds the Debian package (debian/, debhelper) into OUT
# (default build-deb/) and checks it with lintian.
#
#   scripts/deb.sh [OUT]
#   DEB_VERSION=0.2.0-1 scripts/deb.sh      another version than CMakeLists.txt's
#                                            project() version with revision -1
#   LIBREAIR_LLAMA_PREFIX=DIR scripts/deb.sh  link this llama.cpp install instead
#                                            (for instance scripts/llama.sh lib's,
#                                            built -march=native: this machine only)
#   DEB_REF=v0.2.0 scripts/deb.sh            build that commit or tag as committed
#                                            (with the working tree's debian/ and
#                                            init --key-file where it has none: an
#                                            older version to upgrade from)
#
# The tree is copied (tracked files and untracked ones git does not ignore)
# into OUT/libreair-UPSTREAM/ and built there with dpkg-buildpackage, so the
# checkout stays clean. llama.cpp is linked static from a portable build
# (AVX2 baseline, debian/llama-portable.sh) cached once per machine beside
# scripts/llama.sh's own. Prints the path of the .deb on the last line.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "${1:-$here/build-deb}" && cd "${1:-$here/build-deb}" && pwd)
log() { printf 'deb.sh: %s\n' "$*" >&2; }

tools=(debhelper dpkg-dev fakeroot lintian)
missing=()
for p in "${tools[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

upstream=$(sed -n 's/^project(libreair VERSION \([0-9][0-9.]*\).*/\1/p' "$here/CMakeLists.txt")
[ -n "$upstream" ] || { log "no version in CMakeLists.txt's project()"; exit 1; }
version=${DEB_VERSION:-$upstream-1}
case $version in
    *-*) ;;
    *) log "DEB_VERSION '$version' has no Debian revision (for instance $version-1)"; exit 2 ;;
esac
upver=${version%-*}

commit=$(sed -n 's/^LLAMA_COMMIT=//p' "$here/scripts/llama.sh")
cache=${LIBREAIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libreair}
prefix=${LIBREAIR_LLAMA_PREFIX:-}
[ -n "$prefix" ] || prefix=$("$here/debian/llama-portable.sh" "$cache/llama-lib-portable-$commit")

src=$out/libreair-$upver
rm -rf "$src"
mkdir -p "$src"
if [ -n "${DEB_REF:-}" ]; then
    # a commit or tag as committed; the working tree's debian/ where it has none
    git -C "$here" archive --format=tar "$DEB_REF" | tar -xf - -C "$src"
    [ -d "$src/debian" ] || cp -a "$here/debian" "$src/debian"
    # a ref from before the package: its post-install step runs
    # `init --key-file`, which such a ref's init lacks (a self-contained file)
    if ! grep -q -- '"key-file"' "$src/src/cli/cmd_init.c"; then
        cp "$here/src/cli/cmd_init.c" "$src/src/cli/cmd_init.c"
        log "$DEB_REF has no init --key-file: the working tree's src/cli/cmd_init.c is built with it"
    fi
    # and the documents the package installs that it did not have yet
    for f in $(cat "$src"/debian/*.docs) $(awk '{print $1}' "$src"/debian/*.examples); do
        [ -e "$src/$f" ] || install -D -m 0644 "$here/$f" "$src/$f"
    done
else
    (cd "$here" && git ls-files -z --cached --others --exclude-standard |
        tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$src"
fi

# The version asked for heads debian/changelog (the maintainer and text of
# the entry on top otherwise).
top=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "$top" != "$version" ]; then
    maint=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Maintainer)
    {
        printf 'libreair (%s) bookworm; urgency=medium\n\n' "$version"
        printf '  * Built by make deb with DEB_VERSION=%s.\n\n' "$version"
        printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
        cat "$here/debian/changelog"
    } >"$src/debian/changelog"
fi

arch=$(dpkg --print-architecture)
deb=$out/libreair_${version}_$arch.deb
rm -f "$deb"
log "building libreair $version in $src (log: $out/build-$version.log)"
if ! (cd "$src" && LIBREAIR_LLAMA_PREFIX=$prefix \
    nice dpkg-buildpackage -b -us -uc -j"${JOBS:-$(nproc)}") >"$out/build-$version.log" 2>&1; then
    tail -40 "$out/build-$version.log" >&2
    log "dpkg-buildpackage failed (whole log: $out/build-$version.log)"
    exit 1
fi
[ -f "$deb" ] || { log "no $deb"; exit 1; }

log "lintian $deb"
lintian --fail-on error,warning --display-info "$deb" >&2 || { log "lintian is not clean"; exit 1; }
echo "$deb"
