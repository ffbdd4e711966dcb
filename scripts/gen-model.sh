#!/usr/bin/env bash
# Writes a random-weight GGUF model with tools/gguf-gen, finding llama.cpp's
# vocabulary files for it (scripts/llama.sh src; fetched once per machine).
#
#   scripts/gen-model.sh PRESET OUT.gguf [gguf-gen options...]
#   scripts/gen-model.sh tiny-qwen2 /tmp/tiny-qwen2.gguf
#   scripts/gen-model.sh qwen2-0.5b ~/.cache/libreair/models/qwen2-0.5b-f16.gguf --seed 7
#
# LAIR_BUILD overrides the build folder holding gguf-gen (default build/).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
gen=${LAIR_BUILD:-$root/build}/gguf-gen
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
    echo "usage: scripts/gen-model.sh PRESET OUT.gguf [gguf-gen options...]"
    [ ! -x "$gen" ] || "$gen" --help
    exit 0
fi
if [ $# -lt 2 ]; then
    echo "usage: scripts/gen-model.sh PRESET OUT.gguf [gguf-gen options...] (--help for more)" >&2
    exit 2
fi
preset=$1 out=$2
shift 2

if [ ! -x "$gen" ]; then
    echo "gen-model.sh: $gen is not built; run: make (or cmake --build build --target gguf-gen)" >&2
    exit 1
fi
src=$("$root/scripts/llama.sh" src)
mkdir -p "$(dirname "$out")"
exec "$gen" "$preset" --vocab-dir "$src/models" "$@" -o "$out"
