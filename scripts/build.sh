#!/usr/bin/env sh
# Builds the worker to build/ (or $OUT_DIR, relative to the project) with
# worker-build and its standard entry, using only local tools so nothing is
# downloaded: wasm-bindgen from cargo, esbuild and wasm-opt from npm (see
# scripts/setup.sh). wrangler.toml's [build] command runs this.
#
# The result is build/index.js (the entry module) and its wasm beside it.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export PATH
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
worker-build --release --out-dir "${OUT_DIR:-build}" "$@"
