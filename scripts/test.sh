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

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

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
sh scripts/build.sh

step "make deploy against a stand-in wrangler; the real wrangler's dry run"
$NODE --test --test-concurrency=1 "tests/deploy/*.test.mjs"

# Each run starts with no artifacts of earlier runs (logs, KV folders, screenshots).
rm -rf tests/artifacts

# Files run side by side (each starts its own sandbox and workerd on free
# ports): most of their time is spent waiting, for a retry or a delayed
# queue message, not computing.
step "end-to-end tests in workerd"
$NODE --test --test-concurrency=3 "tests/e2e/*.test.mjs"

step "browser tests in headless Chromium"
$NODE --test --test-concurrency=2 "tests/browser/*.test.mjs"
