#!/usr/bin/env bash
# Installs the Debian packages LibreAIr builds, tests and benchmarks with
# (and, given 'fuzz', what make fuzz needs).
# Idempotent: does nothing when everything is already there.
set -euo pipefail

PKGS=(
    build-essential cmake pkg-config git ca-certificates curl jq python3
    libmicrohttpd-dev libgnutls28-dev libjansson-dev libsqlite3-dev sqlite3 libsodium-dev
    libcurl4-openssl-dev libstemmer-dev libutf8proc-dev libxml2-dev libzip-dev
    libmupdf-dev libmujs-dev libgumbo-dev libopenjp2-7-dev libjbig2dec0-dev libharfbuzz-dev
    libcmocka-dev libcjose-dev
    wrk libxapian-dev
    chromium fonts-dejavu-core
    nginx-light openssl
)
# `deps.sh fuzz` (make fuzz) also wants clang and its libFuzzer and sanitizer
# runtimes, which clang only recommends.
if [ "${1:-}" = fuzz ]; then
    PKGS+=(clang libclang-rt-14-dev)
fi

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js may come from another package (nodesource ships npm inside nodejs).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all Debian packages present"
else
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    echo "deps.sh: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node packages for the end-to-end tests (the official openai client;
# playwright-core and axe-core for the browser tests; oidc-provider, the
# identity provider of the sign-in tests).
here=$(cd "$(dirname "$0")/.." && pwd)
nm=$here/tests/e2e/node_modules
if [ -f "$here/tests/e2e/package.json" ] &&
    { [ ! -d "$nm/openai" ] || [ ! -d "$nm/playwright-core" ] || [ ! -d "$nm/axe-core" ] ||
      [ ! -d "$nm/oidc-provider" ]; }; then
    echo "deps.sh: installing the end-to-end tests' npm packages"
    (cd "$here/tests/e2e" && npm ci --silent --no-audit --no-fund)
fi
