#!/usr/bin/env bash
# Fetches llama.cpp from the pinned npm package node-llama-cpp, verifies it, and
# builds it once per machine into a cache outside the checkout.
#
#   scripts/llama.sh lib      -> static libllama + ggml, prints the install prefix
#   scripts/llama.sh lib-cuda -> the same with ggml's CUDA backend (make GPU=cuda)
#   scripts/llama.sh tools    -> llama-server, llama-bench, llama-quantize, prints bin dir
#   scripts/llama.sh src      -> prints the source directory (vocab files live there)
#
# LIBREAIR_CACHE overrides the cache directory (default ~/.cache/libreair).
# lib-cuda needs nvcc (CUDA toolkit: $CUDACXX, else nvcc on PATH, else
# /usr/local/cuda/bin/nvcc) and builds for LIBREAIR_CUDA_ARCHS (default
# "80;86;89;90": A100, RTX 30xx/A10, L4/RTX 40xx, H100), so that a machine
# without a GPU can build it.
set -euo pipefail

NLC_VERSION=3.21.1
NLC_SHA256=7a231d6bafa14142a1cbed9893d4ec5bc6041b2a5f5939a623accaab4203c11f
LLAMA_COMMIT=80fb11ac73e66d89eae2c6a91d8a77428fa733ed

CACHE=${LIBREAIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/libreair}
JOBS=${JOBS:-$(nproc)}
TGZ=$CACHE/node-llama-cpp-$NLC_VERSION.tgz
SRC=$CACHE/llama.cpp-$LLAMA_COMMIT
LIB_PREFIX=$CACHE/llama-lib-$LLAMA_COMMIT
CUDA_PREFIX=$CACHE/llama-lib-cuda-$LLAMA_COMMIT
TOOLS_BUILD=$CACHE/llama-tools-$LLAMA_COMMIT

log() { printf 'llama.sh: %s\n' "$*" >&2; }

fetch_source() {
    [ -f "$SRC/.libreair-ok" ] && return 0
    mkdir -p "$CACHE"
    if [ ! -f "$TGZ" ]; then
        log "downloading node-llama-cpp@$NLC_VERSION from the npm registry"
        tmp=$(mktemp -d)
        (cd "$tmp" && npm pack --silent "node-llama-cpp@$NLC_VERSION" >/dev/null)
        mv "$tmp/node-llama-cpp-$NLC_VERSION.tgz" "$TGZ.part"
        rm -rf "$tmp"
        mv "$TGZ.part" "$TGZ"
    fi
    got=$(sha256sum "$TGZ" | cut -d' ' -f1)
    if [ "$got" != "$NLC_SHA256" ]; then
        log "checksum mismatch for $TGZ: expected $NLC_SHA256, got $got"
        rm -f "$TGZ"
        exit 1
    fi
    log "checksum ok; unpacking the llama.cpp git bundle"
    tmp=$(mktemp -d)
    tar -xzf "$TGZ" -C "$tmp" package/llama/gitRelease.bundle
    rm -rf "$SRC"
    git -c advice.detachedHead=false clone -q "$tmp/package/llama/gitRelease.bundle" "$SRC"
    rm -rf "$tmp"
    head=$(git -C "$SRC" rev-parse HEAD)
    if [ "$head" != "$LLAMA_COMMIT" ]; then
        log "bundle HEAD is $head, expected $LLAMA_COMMIT"
        exit 1
    fi
    touch "$SRC/.libreair-ok"
}

build_lib() {
    [ -f "$LIB_PREFIX/.libreair-ok" ] && return 0
    fetch_source
    log "building static libllama (CPU, native) into $LIB_PREFIX — once per machine"
    b=$CACHE/build-lib-$LLAMA_COMMIT
    cmake -S "$SRC" -B "$b" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF \
        -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_OPENSSL=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DCMAKE_INSTALL_PREFIX="$LIB_PREFIX" >"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
    cmake --build "$b" -j"$JOBS" >>"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
    cmake --install "$b" >>"$b.log" 2>&1
    touch "$LIB_PREFIX/.libreair-ok"
    rm -rf "$b"
}

build_lib_cuda() {
    [ -f "$CUDA_PREFIX/.libreair-ok" ] && return 0
    fetch_source
    nvcc=${CUDACXX:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
    [ -x "$nvcc" ] || { log "no nvcc: install the CUDA toolkit (nvidia-cuda-toolkit) or set CUDACXX"; exit 1; }
    archs=${LIBREAIR_CUDA_ARCHS:-80;86;89;90}
    log "building static libllama with CUDA ($archs) into $CUDA_PREFIX — once per machine, long"
    b=$CACHE/build-lib-cuda-$LLAMA_COMMIT
    cmake -S "$SRC" -B "$b" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
        -DCMAKE_CUDA_ARCHITECTURES="$archs" \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CUDA=ON -DGGML_METAL=OFF \
        -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_TOOLS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_OPENSSL=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
        -DCMAKE_INSTALL_PREFIX="$CUDA_PREFIX" >"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
    cmake --build "$b" -j"$JOBS" >>"$b.log" 2>&1 || { tail -30 "$b.log" >&2; exit 1; }
    cmake --install "$b" >>"$b.log" 2>&1
    touch "$CUDA_PREFIX/.libreair-ok"
    rm -rf "$b"
}

build_tools() {
    [ -f "$TOOLS_BUILD/.libreair-ok" ] && return 0
    fetch_source
    log "building llama-server, llama-bench, llama-quantize into $TOOLS_BUILD — once per machine"
    cmake -S "$SRC" -B "$TOOLS_BUILD" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CUDA=OFF \
        -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF \
        >"$TOOLS_BUILD.log" 2>&1 || { tail -30 "$TOOLS_BUILD.log" >&2; exit 1; }
    cmake --build "$TOOLS_BUILD" -j"$JOBS" --target llama-server llama-bench llama-quantize \
        >>"$TOOLS_BUILD.log" 2>&1 || { tail -30 "$TOOLS_BUILD.log" >&2; exit 1; }
    touch "$TOOLS_BUILD/.libreair-ok"
}

case "${1:-lib}" in
    src) fetch_source; echo "$SRC" ;;
    lib) build_lib; echo "$LIB_PREFIX" ;;
    lib-cuda) build_lib_cuda; echo "$CUDA_PREFIX" ;;
    tools) build_tools; echo "$TOOLS_BUILD/bin" ;;
    *) echo "usage: $0 lib|lib-cuda|tools|src" >&2; exit 2 ;;
esac
