# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test bench bench-handler bench-instructions setup build deploy

# Runs everything locally: the Keap sandbox, the worker configured for it,
# and the example site. Prints the URLs to open.
dev: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node scripts/dev.mjs

# Runs every test (native, end-to-end in workerd, browser).
test:
	bash scripts/test.sh

# Measures size, cold start and CPU per request against a JS baseline.
bench: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node bench/run.mjs

# Each handler's own CPU per call in workerd, with KV and Keap in memory.
bench-handler: setup
	sh scripts/build.sh
	node_modules/.bin/node bench/handler.mjs

# Instructions per request, counted by valgrind (see bench/README.md).
bench-instructions:
	scripts/setup.sh --valgrind
	sh scripts/build.sh
	node_modules/.bin/node bench/instructions.mjs

setup:
	scripts/setup.sh

build: setup
	sh scripts/build.sh

# From a Cloudflare login to a live worker: asks what it needs (or reads it
# from KFW_* and KEAP_* variables), puts the secrets, deploys. See README.md.
# `KFW_DRY_RUN=1 make deploy` changes nothing.
deploy: setup
	node_modules/.bin/node scripts/deploy.mjs
