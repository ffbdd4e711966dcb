#!/bin/sh
# Builds the static llama.cpp that the package links, for any x86-64 CPU with
# AVX2, FMA, F16C and BMI2 (Intel Haswell, AMD Zen and later: every server CPU
# since 2013) instead of `-march=native` as scripts/llama.sh does for a
# developer's own machine: a package runs on other machines than the one that
# built it. The source is the one scripts/llama.sh fetched and verified.
#
#   debian/llama-portable.sh PREFIX   -> installs into PREFIX (once: a PREFIX
#                                        already built is kept), prints PREFIX
set -eu
prefix=${1:?usage: llama-portable.sh PREFIX}
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$prefix/.libreair-ok" ]; then
    echo "$prefix"
    exit 0
fi
src=$("$here/scripts/llama.sh" src)
b=$prefix.build
echo "llama-portable.sh: building static libllama (CPU, AVX2 baseline) into $prefix" >&2
rm -rf "$b"
# -ffile-prefix-map: no build path in the binary (reproducible builds)
cmake -S "$src" -B "$b" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="-ffile-prefix-map=$src=." -DCMAKE_CXX_FLAGS="-ffile-prefix-map=$src=." \
    -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF \
    -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
    -DGGML_AVX512=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_CCACHE=OFF \
    -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_OPENSSL=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DCMAKE_INSTALL_PREFIX="$prefix" >"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
cmake --build "$b" -j"${JOBS:-$(nproc)}" >>"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
cmake --install "$b" >>"$b.log" 2>&1
touch "$prefix/.libreair-ok"
rm -rf "$b"
echo "$prefix"
