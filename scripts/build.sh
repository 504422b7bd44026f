#!/usr/bin/env sh
# Builds the worker to build/ (or $OUT_DIR, relative to the project) with
# worker-build, using only local tools so nothing is downloaded:
# wasm-bindgen from cargo, esbuild and wasm-opt from npm (see
# scripts/setup.sh). wrangler.toml's [build] command runs this.
#
# The result is build/index.js (the entry module with wasm-bindgen's glue
# and src/shell/runtime.js bundled in) and build/index_bg.wasm.
set -eu
cd "$(dirname "$0")/.."
PATH="$HOME/.cargo/bin:$PWD/node_modules/.bin:$PATH"
export PATH
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
# Our own entry module instead of worker-build's, which puts every request
# behind a class instance and two Proxies (see the file's header).
export CUSTOM_SHIM="$PWD/src/shell/entry.js"
OUT="${OUT_DIR:-build}"
worker-build --release --out-dir "$OUT" "$@"
# worker-build leaves a custom entry in $OUT/worker/; lay it out flat.
sed 's#"\./index\.wasm"#"./index_bg.wasm"#' "$OUT/worker/shim.mjs" > "$OUT/index.js"
mv "$OUT/worker/index.wasm" "$OUT/index_bg.wasm"
rm -rf "$OUT/worker"
