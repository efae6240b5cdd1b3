# Every target installs what it needs (pinned, into .venv/) before using it.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
PYTHON ?= python3
AWS_VENV := .venv/aws
CHECKOV_VENV := .venv/checkov
STACK_VENV := .venv/stack
# Scratch space of the stack tests and the demo (never /tmp).
STACK_TMP := target/stack-tmp
# The features every debug build and test run uses: the function and the wait
# command (src/wait/), so that one build serves them all. The Lambda bootstrap
# (make build, sam build) is built without `wait`.
FEATURES := --features wait
export PATH := $(CURDIR)/$(AWS_VENV)/bin:$(CURDIR)/$(CHECKOV_VENV)/bin:$(PATH)
# Offline tools still want a region (CloudFront itself is global), so the local
# targets get one when the caller has none. Not the targets that reach a real
# account (redrive, smoke, publish): there AWS_REGION, AWS_DEFAULT_REGION or the
# profile's region must decide, and a region set here would override the
# profile's and reach a stack of the same name elsewhere, or none.
LOCAL_TARGETS := test tools rust-tools docs lint unit template fuzz-short fuzz stack-test demo demo-events bench simulate figures build package
$(LOCAL_TARGETS): export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# Every tool's temporary files (pytest's, cfn-lint's caches, mktemp's) stay in
# the project, never in /tmp.
export TMPDIR := $(CURDIR)/target/tmp
$(shell mkdir -p target/tmp)
export CARGO_TERM_COLOR := never

.PHONY: test tools rust-tools docs figures lint unit template fuzz-short fuzz stack-test demo demo-events bench simulate build package redrive smoke publish sar-check wait clean

## make test: everything CI runs; last, the documentation's figures against what this run
## (and any earlier make bench or make simulate) measured.
## Steps that do not wait on each other run side by side, so that the whole stays under 20
## minutes on 2 cores: the virtualenvs install while clippy builds; once the tests are built,
## they run (the end-to-end ones mostly wait on SQS's clock) while the fuzzer (its own target
## directory) and the template's arm64 bootstrap build.
test:
	@$(MAKE) --no-print-directory docs
	@$(MAKE) --no-print-directory -j4 tools $(STACK_VENV)/.installed lint
	cargo test --all-targets $(FEATURES) --no-run
	@$(MAKE) --no-print-directory -j3 unit template fuzz-short
	@$(MAKE) --no-print-directory stack-test
	@$(MAKE) --no-print-directory figures

tools: $(AWS_VENV)/.installed $(CHECKOV_VENV)/.installed rust-tools

$(AWS_VENV)/.installed: tools/requirements.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is needed to install the AWS stand-ins (Debian: apt-get install python3 python3-venv)"; exit 1; }
	$(PYTHON) -m venv $(AWS_VENV)
	$(AWS_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements.txt
	touch $@

# The stack tests' and the demo's tools: moto, the SAM translator, Django,
# django-storages, the AWS CLI, cargo-lambda, pytest (pinned).
$(STACK_VENV)/.installed: tools/requirements-stack.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is needed for the stack tests and the demo (Debian: apt-get install python3 python3-venv)"; exit 1; }
	@echo "installing the local AWS, Django, the AWS CLI and cargo-lambda (pinned, into $(STACK_VENV); first time: about a minute)..."
	$(PYTHON) -m venv $(STACK_VENV)
	$(STACK_VENV)/bin/pip install --disable-pip-version-check --progress-bar off -r tools/requirements-stack.txt
	$(STACK_VENV)/bin/pip check
	touch $@

$(CHECKOV_VENV)/.installed: tools/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/requirements-checkov.txt
	touch $@

rust-tools:
	@command -v rustup >/dev/null || { echo "error: rustup is needed (https://rustup.rs)"; exit 1; }
	rustup component add rustfmt clippy
	rustup target add aarch64-unknown-linux-gnu

## The links of README.md, docs/ and the SAR readme lead to files and headings that
## exist, and every page of docs/ is linked (tools/check_docs.py, standard library only,
## checked first on broken pages of its own; well under a second).
docs:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is needed to check the documentation's links (Debian: apt-get install python3)"; exit 1; }
	$(PYTHON) tools/check_docs.py --self-test
	$(PYTHON) tools/check_docs.py

## Each figure README.md and docs/ attribute to a command, against that command's output in
## target/figures/ (tools/check_figures.py, standard library only, checked first on pages of
## its own; well under a second). Outputs not made yet are listed, not checked.
figures:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) is needed to check the documentation's figures (Debian: apt-get install python3)"; exit 1; }
	$(PYTHON) tools/check_figures.py --self-test
	$(PYTHON) tools/check_figures.py

lint: rust-tools
	cargo fmt --check
	@echo "clippy (first time: about 2 minutes)..."
	cargo clippy --all-targets $(FEATURES) -- -D warnings
	cargo clippy --no-default-features --lib -- -D warnings

## Unit, mock and end-to-end tests (the e2e tests need moto and cargo-lambda from .venv/aws;
## two of them wait about a minute each for SQS's own clock), and the simulation's fixed seeds
## (tests/sim: about a minute).
unit: tools
	@echo "building the tests (first time: about 3 minutes), then running them (about 3 minutes)..."
	cargo test --all-targets $(FEATURES)

template: tools
	sam validate --lint --template template.yaml
	cfn-lint template.yaml
	checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(MAKE) --no-print-directory package
	@echo "tests/template: the template translated and checked in every wiring (about a minute)..."
	$(AWS_VENV)/bin/python -m pytest tests/template -q

## Short fuzz runs of key decoding / path encoding and of the event parser (cargo-fuzz,
## pinned, on the nightly toolchain); a crash fails the run with the input saved.
fuzz-short:
	bash fuzz/run.sh 25

## make fuzz: five minutes per target.
fuzz:
	bash fuzz/run.sh 300

## The stack in a local AWS: template.yaml deployed into moto in every wiring, listed
## distributions and auto, fed by collectstatic, aws s3 sync and a burst, read by
## modelled CloudFront edges; prints the figures (also in target/stack-tmp/figures.md).
stack-test: $(STACK_VENV)/.installed
	@command -v cargo >/dev/null || { echo "error: cargo is needed to build the function (https://rustup.rs)"; exit 1; }
	@# All targets, with the tests' features: after `make unit` (as in make test) nothing
	@# is built again.
	cargo build --all-targets $(FEATURES)
	mkdir -p $(STACK_TMP)/tmp
	@echo "tests/stack: the stack deployed into a local AWS and fed by real upload tools (about 4 minutes)..."
	TMPDIR=$(CURDIR)/$(STACK_TMP)/tmp $(STACK_VENV)/bin/python -m pytest -p no:cacheprovider -n 3 tests/stack -q

## make demo: the user story on a deployed stack: collectstatic twice, what viewers got
## before and after the function's invalidation.
demo: $(STACK_VENV)/.installed
	@command -v cargo >/dev/null || { echo "error: cargo is needed to build the function (https://rustup.rs)"; exit 1; }
	@echo "building the function (first time: about 3 minutes)..."
	cargo build --bin cloudfront-invalidator $(FEATURES)
	mkdir -p $(STACK_TMP)/tmp
	TMPDIR=$(CURDIR)/$(STACK_TMP)/tmp $(STACK_VENV)/bin/python tests/stack/demo.py

## make demo-events: moto as CloudFront, the function under the runtime emulator, every sample event.
demo-events: tools
	cargo build $(FEATURES)
	cargo run --quiet --example demo $(FEATURES)

## make bench: criterion for the planning code, then whole-process figures (release binary, moto
## behind the fault proxy), printed and written to target/figures/bench.md.
bench: build
	cargo bench --bench plan -- --noplot
	cargo build --release
	INVALIDATOR_BINARY=$(CURDIR)/target/release/cloudfront-invalidator cargo run --release --quiet --example bench

## make simulate [SEEDS=1000] [FROM=1] [FAMILY=name]: the deterministic simulation (tests/sim)
## over that many seeds, in a release build, one line a seed and the totals (also in
## target/figures/simulate.md); a seed that breaks the promise prints the command that replays
## it: make simulate SEED=n [FAMILY=name] [VERBOSE=1]. The long run of what make test checks on
## ten fixed seeds (it replaced make soak).
simulate:
	cargo test --release --test sim -- $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),1000) --from $(or $(FROM),1)) $(if $(FAMILY),--family $(FAMILY)) $(if $(VERBOSE),--verbose)

## The arm64 bundle SAM deploys (.aws-sam/build). cargo lambda builds it first, in
## the project's target/ where sam build then finds it done, so that cargo's progress
## shows (sam build shows none).
build: tools
	@echo "building the arm64 release bootstrap (first time: about 5 minutes)..."
	cargo lambda build --release --arm64 --bin cloudfront-invalidator
	sam build --template template.yaml

## make package: the bundle and dist/template.yaml, which deploys with the SAM CLI
## alone, no Rust needed there (cd dist && sam deploy --guided); dist/sar-template.json
## for make publish; the operator's scripts.
package: build
	$(AWS_VENV)/bin/python tools/package.py .aws-sam/build dist
	sam validate --lint --template dist/template.yaml
	sam validate --lint --template dist/sar-template.json

## make publish BUCKET=<artifacts bucket>: dist/sar-template.json to the Serverless
## Application Repository, as a private application of the caller's account and region
## (see docs/deploy.md for the bucket's policy). Refused while the metadata's URLs are
## placeholders.
publish: sar-check
	@[[ -n "$(BUCKET)" ]] || { echo "usage: make publish BUCKET=<a bucket of yours that the repository may read (docs/deploy.md)>"; exit 1; }
	$(MAKE) --no-print-directory package
	sam package --template-file dist/sar-template.json --output-template-file dist/packaged.yaml --s3-bucket "$(BUCKET)"
	sam publish --template dist/packaged.yaml

sar-check:
	@if grep -q 'github\.com/OWNER/' template.yaml docs/sar.md; then echo "error: set HomePageUrl and SourceCodeUrl in template.yaml, and the links of docs/sar.md, to the project's repository (they say github.com/OWNER/) before make publish"; exit 1; fi

## make redrive STACK=name: what the stack's dead-letter queue holds, replayed (tools/redrive.sh;
## needs the AWS CLI and the stack's credentials).
redrive:
	@[[ -n "$(STACK)" ]] || { echo "usage: make redrive STACK=<the stack's name>"; exit 1; }
	bash tools/redrive.sh "$(STACK)"

## make smoke STACK=name [DISTRIBUTION=id]: a probe object changed in the stack's bucket and
## read through the distribution before and after the function's invalidation completes
## (tools/smoke.sh; needs curl and the AWS CLI with the stack's credentials and region).
smoke:
	@[[ -n "$(STACK)" ]] || { echo "usage: make smoke STACK=<the stack's name> [DISTRIBUTION=<its ID>]"; exit 1; }
	bash tools/smoke.sh "$(STACK)" $(DISTRIBUTION)

## make wait STACK=name [WAIT='--timeout 30m']: returns once every change S3 reported to the
## stack so far is invalidated and CloudFront says Completed; fails at once when one reaches the
## dead-letter queue, or at the timeout (src/wait/; AWS credentials and region as for the AWS CLI).
wait:
	@[[ -n "$(STACK)" ]] || { echo "usage: make wait STACK=<the stack's name> [WAIT='--timeout 30m --since 10m']"; exit 1; }
	@# This Makefile's own AWS_DEFAULT_REGION (for offline tools) must not hide a profile's region.
	@$(if $(filter file,$(origin AWS_DEFAULT_REGION)),env -u AWS_DEFAULT_REGION) \
	  cargo run --quiet --bin cloudfront-invalidator-wait $(FEATURES) -- --stack "$(STACK)" $(WAIT)

clean:
	cargo clean
	rm -rf .venv .tools .aws-sam dist
