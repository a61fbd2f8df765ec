#!/usr/bin/env bash
# Build llama-cpp-python from its PyPI source once, cache the wheel outside the
# repository, and install it. Idempotent: if llama_cpp already imports it does
# nothing; if a cached wheel exists it installs that without rebuilding.
#
# Used by Scripts/bench_vs_llamacpp.py (the llama.cpp side of the comparison).
#
# Environment:
#   LLAMA_CPP_PYTHON_VERSION  pin a version (e.g. 0.3.16); default: newest release
#   PEREGRINE_BENCH_WHEELS    wheel cache (default ~/.cache/peregrine/bench/wheels)
#   CMAKE_ARGS                extra CMake flags (default: native CPU build, no llava/mtmd)
#   CMAKE_BUILD_PARALLEL_LEVEL  build jobs (default 2)
#   PYTHON                    interpreter to install into (default python3)
#   LLAMA_CPP_FORCE_REBUILD=1 rebuild the wheel even if one is cached
set -euo pipefail

PYTHON="${PYTHON:-python3}"
WHEELS="${PEREGRINE_BENCH_WHEELS:-$HOME/.cache/peregrine/bench/wheels}"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-}"
export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
# GGML_NATIVE=ON compiles ggml with -march=native (AVX2/FMA/F16C here, and
# AVX-512 where the CPU has it), as a plain llama.cpp build does. The wheel is
# therefore only valid on CPUs with at least the build machine's features.
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=ON -DCMAKE_BUILD_TYPE=Release -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}"

spec="llama-cpp-python"
[ -n "$VERSION" ] && spec="llama-cpp-python==$VERSION"

if [ "${LLAMA_CPP_FORCE_REBUILD:-0}" != 1 ] && "$PYTHON" -c 'import llama_cpp' 2>/dev/null; then
    have=$("$PYTHON" -c 'import llama_cpp; print(llama_cpp.__version__)')
    if [ -z "$VERSION" ] || [ "$have" = "$VERSION" ]; then
        echo "llama-cpp-python $have already installed"
        exit 0
    fi
fi

mkdir -p "$WHEELS"
pattern="llama_cpp_python-${VERSION:-*}-*.whl"
wheel=$(ls -t "$WHEELS"/$pattern 2>/dev/null | head -n1 || true)

if [ "${LLAMA_CPP_FORCE_REBUILD:-0}" = 1 ] || [ -z "$wheel" ]; then
    echo "building $spec wheel into $WHEELS (CMAKE_ARGS=$CMAKE_ARGS, $CMAKE_BUILD_PARALLEL_LEVEL jobs); this takes 10+ minutes on 2 cores"
    start=$(date +%s)
    "$PYTHON" -m pip wheel --no-deps --no-binary llama-cpp-python --no-cache-dir -v "$spec" -w "$WHEELS"
    echo "wheel built in $(( $(date +%s) - start )) s"
    wheel=$(ls -t "$WHEELS"/$pattern | head -n1)
fi

echo "installing $wheel"
# Replace llama-cpp-python itself, then add only missing dependencies (numpy,
# typing-extensions, diskcache, jinja2) without upgrading ones already installed.
"$PYTHON" -m pip install --force-reinstall --no-deps "$wheel"
"$PYTHON" -m pip install "$wheel"
"$PYTHON" -c 'import llama_cpp; print("llama-cpp-python", llama_cpp.__version__, "installed")'
