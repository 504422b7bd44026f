#!/usr/bin/env sh
# Builds the worker to build/ with worker-build, using only local tools so
# nothing is downloaded: wasm-bindgen from cargo, esbuild and wasm-opt from
# npm (see scripts/setup.sh). wrangler.toml's [build] command runs this.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export PATH
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
exec worker-build --release "$@"
