#!/usr/bin/env bash
# Runs every check and test: formatting, lints (native and wasm32), the
# native unit and property tests, then the real worker built to wasm in
# workerd against the Keap sandbox, over HTTP and in headless Chromium.
# Installs whatever is missing first (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export WRANGLER_SEND_METRICS=false
NODE=node_modules/.bin/node

step() { printf '\n\033[1m== %s\033[0m (at %ss)\n' "$*" "$SECONDS"; }

step "setup"
scripts/setup.sh --browser

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p keap-form-worker --target wasm32-unknown-unknown -- -D warnings

step "native tests (core, sandbox)"
cargo test --workspace

step "build: the worker (wasm) and the Keap sandbox"
cargo build --release -p keap-sandbox
# A build newer than every source is kept (a warm run); otherwise it builds.
KFW_REUSE_BUILD=1 sh scripts/build.sh

# Each run starts with no artifacts of earlier runs (logs, KV folders, screenshots).
rm -rf tests/artifacts

# Files run side by side, the slowest first (tests/run.mjs): each starts
# its own sandbox, workerd and Chromium on free ports, and most of their
# time is spent waiting, for a retry or a delayed queue message.
step "make deploy against a stand-in wrangler, the real wrangler's dry run, end-to-end tests in workerd, browser tests in headless Chromium"
$NODE tests/run.mjs

step "all passed in ${SECONDS}s"
