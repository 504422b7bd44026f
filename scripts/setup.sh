#!/usr/bin/env bash
# Installs what the project needs on a fresh machine, from the project's own
# pins. Safe to run again: what is already there at the right version is
# left alone, so a second run takes seconds.
#
#   scripts/setup.sh            Rust target, worker-build, wasm-bindgen-cli, npm packages
#   scripts/setup.sh --browser  the same, plus Debian's Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

WORKER_BUILD_VERSION=0.8.7
# wasm-bindgen-cli must equal the wasm-bindgen that Cargo.lock pins.
WASM_BINDGEN_VERSION=$(awk '$0 == "name = \"wasm-bindgen\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
fi
for component in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$component"; then
    rustup component add "$component"
  fi
done

if ! worker-build --version 2>/dev/null | grep -qw "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (about 5 minutes on 2 cores)"
  cargo install --quiet --locked --force "worker-build@$WORKER_BUILD_VERSION"
fi

if ! wasm-bindgen --version 2>/dev/null | grep -qw "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 4 minutes on 2 cores)"
  # Not --locked: its lock names a webpki-roots release the registry no
  # longer serves.
  cargo install --quiet --force "wasm-bindgen-cli@$WASM_BINDGEN_VERSION"
fi

# npm packages (wrangler, Node 22, esbuild, binaryen, playwright-core) from
# package-lock.json; reinstalled only when the lock file changed.
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat node_modules/.installed-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  say "installing npm packages from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.installed-lock-hash
fi

if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing Debian's chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium >/dev/null
fi

say "ready"
