#!/usr/bin/env sh
# Builds the worker to build/ (or $OUT_DIR, relative to the project) with
# worker-build and its standard entry, using only local tools so nothing is
# downloaded: wasm-bindgen from cargo, esbuild and wasm-opt from npm (see
# scripts/setup.sh). wrangler.toml's [build] command runs this.
#
# The result is build/index.js (the entry module) and its wasm beside it.
#
# KFW_REUSE_BUILD=1 keeps a build that is newer than every input (src/,
# Cargo.toml, Cargo.lock, this script) instead of making it again: for
# wrangler's [build] command in the tests' dry runs, right after
# `make test` has built. Anything newer, or a missing file, builds.
set -eu
cd "$(dirname "$0")/.."
out="${OUT_DIR:-build}"
if [ "${KFW_REUSE_BUILD:-}" = 1 ] && [ -f "$out/index.js" ] && [ -f "$out/index_bg.wasm" ] &&
  [ -z "$(find src Cargo.toml Cargo.lock scripts/build.sh \( -newer "$out/index.js" -o -newer "$out/index_bg.wasm" \) -print | head -n 1)" ]; then
  echo "scripts/build.sh: $out/ is newer than src/, Cargo.toml, Cargo.lock and this script: kept (KFW_REUSE_BUILD=1)"
  exit 0
fi
PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export PATH
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
worker-build --release --out-dir "$out" "$@"
