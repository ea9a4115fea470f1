# Fig on AWS serverless: the two commands of the quick start.
#
#   make run    everything locally: emulator, provisioning, gateway on 127.0.0.1:8080, web client
#   make test   every check and test (what CI runs)
#
# Both install what they need on first use: the emulator (LocalStack into .localstack-venv and
# target/localstack; moto into .emu-venv with FIG_EMULATOR=moto; see localstack/emulator.sh),
# cfn-lint into .tools/venv, the web client's npm packages into web/node_modules.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CARGO ?= cargo
NPM ?= npm
EMULATOR := localstack/emulator.sh

.PHONY: help run test check fmt-check clippy web web-deps web-check infra-lint rust-test emulator-tests browser gateway fmt bench e2e

help:
	@echo "make run    run Fig locally (emulator + gateway on http://127.0.0.1:$${FIG_PORT:-8080})"
	@echo "make test   run every check and test (fmt, clippy, web, cfn-lint, Rust + emulator tests)"
	@echo "make bench  the settings-fetch benchmark against the emulator (optimised build; not in make test)"

## --- run -------------------------------------------------------------------------------------

run: web gateway
	@$(EMULATOR) run-with $(CARGO) run --quiet -p fig-gateway

gateway:
	$(CARGO) build -p fig-gateway

## --- web client ------------------------------------------------------------------------------

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

web-deps: web/node_modules/.package-lock.json

web: web-deps
	cd web && $(NPM) run --silent build

web-check: web-deps
	cd web && $(NPM) run --silent typecheck
	cd web && $(NPM) test --silent

# Browser tests (web/e2e): Debian's Chromium driven by playwright-core against the gateway and
# the emulator, each test file with its own table, bucket and key. Screenshots go to
# target/e2e-artifacts/.
browser:
	web/e2e/install-browser.sh

e2e: browser gateway web
	$(EMULATOR) run-with bash -c 'cd web && $(NPM) run --silent e2e'

## --- checks ----------------------------------------------------------------------------------

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

infra-lint:
	infra/lint.sh

# Unit tests and the emulator tests (each emulator test provisions its own uniquely named
# table, key and buckets). nextest prints one summary line at the end; cargo test otherwise.
RUST_TESTS = if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

rust-test:
	@$(EMULATOR) run-with bash -c '$(RUST_TESTS)'

# What `make test` runs against one emulator: the browser tests, then the Rust tests (whose
# summary ends the output). Both always run; either failing fails the target.
emulator-tests: browser gateway web
	@$(EMULATOR) run-with bash -c 'browser=0; (cd web && $(NPM) run --silent e2e) || browser=$$?; \
	  $(RUST_TESTS); rust=$$?; \
	  if [ $$browser -ne 0 ]; then echo "browser tests failed (web/e2e, artefacts in target/e2e-artifacts)"; fi; \
	  [ $$browser -eq 0 ] && [ $$rust -eq 0 ]'

check: fmt-check clippy web-check web infra-lint

test: check emulator-tests

## --- benchmark (not part of make test) --------------------------------------------------------

bench:
	@$(EMULATOR) run-with $(CARGO) bench -p fig-tests --bench fetch
