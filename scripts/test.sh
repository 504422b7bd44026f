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

step "native tests: compile (core, sandbox)"
cargo test --workspace --no-run

step "build: the worker (wasm) and the Keap sandbox"
cargo build --release -p keap-sandbox
# A build newer than every source is kept (a warm run); otherwise it builds.
KFW_REUSE_BUILD=1 sh scripts/build.sh

# Each run starts with no artifacts of earlier runs (logs, KV folders, screenshots).
rm -rf tests/artifacts
mkdir -p tests/artifacts

# The native tests run beside the others (their output follows them), and
# the deploy, end-to-end and browser files side by side, the slowest first
# (tests/run.mjs): each file starts its own sandbox, workerd and Chromium
# on free ports, and most of their time is spent waiting, for a retry or a
# delayed queue message.
step "native tests (core, sandbox), and beside them: make deploy against a stand-in wrangler, the real wrangler's dry run, end-to-end tests in workerd, browser tests in headless Chromium"
cargo test --workspace >tests/artifacts/native-tests.log 2>&1 &
native=$!
others=0
$NODE tests/run.mjs || others=$?
native_status=0
wait "$native" || native_status=$?

step "native tests (cargo test --workspace; also in tests/artifacts/native-tests.log)"
cat tests/artifacts/native-tests.log
if [ "$native_status" -ne 0 ] || [ "$others" -ne 0 ]; then
  step "FAILED: native tests exit $native_status, deploy/end-to-end/browser tests exit $others"
  exit 1
fi

step "all passed in ${SECONDS}s"
