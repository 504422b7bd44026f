# The two commands a newcomer needs; each installs what is missing first.
.PHONY: dev test bench setup build

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
# and KV operations per submission (see bench/README.md).
bench: setup
	cargo build --release -p keap-sandbox
	sh scripts/build.sh
	node_modules/.bin/node bench/run.mjs

setup:
	scripts/setup.sh

build: setup
	sh scripts/build.sh
