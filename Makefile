# Northstar: `make run` starts the whole system locally, `make test` proves it.
# Both set up what they need first (.venv, generated gRPC code, Kafka's jars).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
PROTO_STAMP := northstar/.generated
# buf lints the protos and checks them for breaking changes; it is a Go module, built once per
# version into .cache (needs Go).
GO ?= go
BUF_VERSION := v1.75.0
BUF := $(CURDIR)/.cache/buf/$(BUF_VERSION)/buf

UV_COMPILE := $(VENV)/bin/uv pip compile --quiet --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" --no-emit-package northstar-contracts

.PHONY: setup run test unit lint typecheck bench proto kafka-jars contracts mutate deploy-tools \
	lock clean
.PHONY: buf buf-version buf-breaking

ASYNCAPI_SPECS := .cache/asyncapi/.unpacked
ASYNCAPI_SPECS_VERSION := 6.11.1

setup: $(VENV_STAMP) $(PROTO_STAMP) kafka-jars $(ASYNCAPI_SPECS) deploy-tools

# Every dependency comes from the lockfile, pinned by hash; the published language and the
# project itself are then installed editable without resolving anything.
$(VENV_STAMP): pyproject.toml setup.py contracts/pyproject.toml requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet pip==26.3
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e ./contracts -e .
	touch $@

# Regenerates the lockfiles from pyproject.toml and requirements/build.in (after a version bump).
lock: $(VENV_STAMP)
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.lock
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra dev -o requirements/dev.lock
	$(UV_COMPILE) requirements/build.in -o requirements/build.lock

# kustomize (into .cache/bin) and the published schemas the deployment tests check against,
# when missing (devstack/deploytools.py says where each comes from).
deploy-tools: $(VENV_STAMP)
	$(PY) -m devstack.deploytools fetch

# gRPC stubs (and their .pyi for mypy) are generated, never committed.
$(PROTO_STAMP): $(PROTOS) $(VENV_STAMP)
	rm -rf northstar
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --grpc_python_out=. \
		--plugin=protoc-gen-mypy=$(VENV)/bin/protoc-gen-mypy \
		--plugin=protoc-gen-mypy_grpc=$(VENV)/bin/protoc-gen-mypy_grpc \
		--mypy_out=. --mypy_grpc_out=. $(PROTOS)
	find northstar -type d -exec touch {}/__init__.py \;
	touch $@

proto: $(PROTO_STAMP)

# The AsyncAPI specification's own JSON Schemas (npm package @asyncapi/specs): the test suite
# validates contracts/asyncapi.json against them.
$(ASYNCAPI_SPECS):
	rm -rf .cache/asyncapi && mkdir -p .cache/asyncapi
	cd .cache/asyncapi && npm pack --silent @asyncapi/specs@$(ASYNCAPI_SPECS_VERSION) >/dev/null \
		&& tar xzf asyncapi-specs-$(ASYNCAPI_SPECS_VERSION).tgz
	touch $@

# Regenerates the published-language artefacts (schemas, AsyncAPI, event catalogue).
contracts: $(VENV_STAMP)
	$(PY) -m northstar_contracts.artefacts write

kafka-jars: $(VENV_STAMP)
	$(PY) -m devstack.kafka fetch

# `make run DEMO=0` starts without loading the demo organisation.
run: setup
	$(PY) -m devstack.run $(if $(filter 0,$(DEMO)),--no-demo)

lint: $(VENV_STAMP) $(BUF)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(BUF) lint proto
	@$(MAKE) --no-print-directory buf-breaking

$(BUF):
	GOBIN=$(dir $(BUF)) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

buf: $(BUF)

buf-version: $(BUF)
	@$(BUF) --version

# The API may change only compatibly from one commit to the next; a deliberate break shows up
# here on the commit that makes it. Without a previous commit holding proto/ (a first commit,
# a shallow clone) there is nothing to compare with, and that is said.
buf-breaking: $(BUF)
	@if git rev-parse --verify --quiet 'HEAD~1^{commit}' >/dev/null \
		&& git cat-file -e 'HEAD~1:proto' 2>/dev/null; then \
		echo "$(BUF) breaking proto --against '.git#ref=HEAD~1,subdir=proto'"; \
		$(BUF) breaking proto --against '.git#ref=HEAD~1,subdir=proto'; \
	else \
		echo "buf breaking: skipped, no previous commit with proto/ to compare against"; \
	fi

typecheck: $(VENV_STAMP) $(PROTO_STAMP)
	$(VENV)/bin/mypy

test: setup lint typecheck
	$(PY) -m pytest

# Needs no Kafka, PostgreSQL, Go or buf: tests that do are integration tests.
unit: $(VENV_STAMP) $(PROTO_STAMP)
	$(PY) -m pytest tests/unit

bench: setup
	$(PY) -m bench

# Mutation testing of the goal rules, progress maths, goals fold and audit chain (not part of
# `make test`: it takes minutes); prints the surviving mutants.
mutate: setup
	$(PY) -m tools.mutate

clean:
	rm -rf $(VENV) northstar .cache .mypy_cache .ruff_cache .pytest_cache mutants
