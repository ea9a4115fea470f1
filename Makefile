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

.PHONY: help run test check fmt-check clippy web web-deps web-check infra-lint deps advisories rust-test emulator-tests browser gateway test-build fmt bench bench-quick e2e package bench-lambda

help:
	@echo "make run    run Fig locally (emulator + gateway on http://127.0.0.1:$${FIG_PORT:-8080})"
	@echo "make test   run every check and test (fmt, clippy, web, cfn-lint, Rust + emulator tests)"
	@echo "make bench  the settings-fetch benchmark against the emulator (optimised build; not in make test)"
	@echo "make bench-quick   the same with fewer samples (a few minutes once built)"
	@echo "make package       the four functions as arm64 Lambda zips (target/lambda/*/bootstrap.zip)"
	@echo "make bench-lambda  size, cold start and memory of the function bootstraps"

## --- run -------------------------------------------------------------------------------------

run: web gateway
	@$(EMULATOR) run-with $(CARGO) run --quiet -p fig-gateway

gateway:
	$(CARGO) build -p fig-gateway

# What `make test` runs, built in one cargo invocation: every binary (the local gateway for the
# browser tests; the four function bootstraps, which tests/tests/emulator/lambda.rs runs under a
# Runtime API emulator) and every test, with one feature resolution. Building the gateway alone
# first resolves features without the tests' dev-dependencies and compiled the AWS SDK twice.
test-build:
	$(CARGO) build --workspace --bins --tests

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

# Licences, banned and duplicated heavy crates, sources (cargo-deny) and the web client's npm
# audit. `make advisories` checks the RustSec advisories where GitHub is reachable.
deps: web-deps
	infra/deps.sh

advisories:
	infra/deps.sh advisories

# Unit tests and the emulator tests (each emulator test provisions its own uniquely named
# table, key and buckets). nextest prints one summary line at the end; cargo test otherwise.
RUST_TESTS = if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
	  $(CARGO) test --workspace --no-fail-fast; \
	fi

rust-test: test-build
	@$(EMULATOR) run-with bash -c '$(RUST_TESTS)'

# What `make test` runs against one emulator: the browser tests, then the Rust tests (whose
# summary ends the output). Both always run; either failing fails the target.
emulator-tests: browser test-build web
	@$(EMULATOR) run-with bash -c 'browser=0; (cd web && $(NPM) run --silent e2e) || browser=$$?; \
	  $(RUST_TESTS); rust=$$?; \
	  if [ $$browser -ne 0 ]; then echo "browser tests failed (web/e2e, artefacts in target/e2e-artifacts)"; fi; \
	  [ $$browser -eq 0 ] && [ $$rust -eq 0 ]'

check: fmt-check clippy web-check web infra-lint deps

test: check emulator-tests

## --- benchmark (not part of make test) --------------------------------------------------------

bench:
	@$(EMULATOR) run-with $(CARGO) bench -p fig-tests --bench fetch

# The same benchmark with fewer samples (300 per path, 1,000 fetches for the KMS count): a few
# minutes once built. For a developer's loop; the figures in the README come from `make bench`.
bench-quick:
	@FIG_BENCH_QUICK=1 $(EMULATOR) run-with $(CARGO) bench -p fig-tests --bench fetch

## --- Lambda artifacts (not part of make test) --------------------------------------------------

# The four functions for arm64 as the zips infra/template.yaml deploys (6-10 min; cargo-lambda
# and the rustup target installed on first use).
package:
	infra/package.sh

# Size, cold start and memory of the bootstraps (x86_64 release builds of this machine, run under
# a Runtime API emulator against the emulator) beside a lambda_runtime hello-world. One cargo
# invocation builds the functions, the floor and the benchmark, so features resolve once.
bench-lambda:
	$(CARGO) build --release -p fig-tests -p fig-auth -p fig-settings -p fig-admin -p fig-events --bins --benches
	@$(EMULATOR) run-with $(CARGO) bench -p fig-tests --bench lambda
