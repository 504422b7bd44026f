# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test bench profile setup build deploy

# Runs everything locally: the Keap sandbox, the worker configured for it,
# and the example site. Prints the URLs to open.
dev: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node scripts/dev.mjs

# Runs every test (native, end-to-end in workerd, browser).
test:
	bash scripts/test.sh

# Measures ours against a plain JavaScript worker and a constant-answer
# floor: size, first request after start, CPU per request, and Keap calls
# and KV operations per submission; then a passing failure's time to Keap
# and a 120-lead backlog's time to drain (see bench/README.md).
bench: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node bench/run.mjs
	node_modules/.bin/node bench/deliveries.mjs

# Where a worker's CPU goes: a V8 CPU profile of one worker under load
# (`make profile WHO=baseline WHAT=preflight`; see bench/README.md).
profile: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node bench/profile.mjs $(or $(WHO),ours) $(or $(WHAT),submission)

setup:
	scripts/setup.sh

build: setup
	sh scripts/build.sh

# From a Cloudflare login to a live worker: asks what it needs (or reads it
# from KFW_* and KEAP_* variables), puts the secrets, deploys. See README.md.
# `KFW_DRY_RUN=1 make deploy` changes nothing.
deploy: setup
	node_modules/.bin/node scripts/deploy.mjs
