# Northstar: `make run` starts the whole system locally, `make test` proves it.
# Both set up what they need first (.venv, generated gRPC code, Kafka's jars).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
PROTOS := $(shell find proto -name '*.proto')
PROTO_STAMP := northstar/.generated

.PHONY: setup run test unit lint typecheck bench proto kafka-jars contracts mutate clean

ASYNCAPI_SPECS := .cache/asyncapi/.unpacked
ASYNCAPI_SPECS_VERSION := 6.11.1

setup: $(VENV_STAMP) $(PROTO_STAMP) kafka-jars $(ASYNCAPI_SPECS)

$(VENV_STAMP): pyproject.toml contracts/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./contracts -e '.[dev]'
	touch $@

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

run: setup
	$(PY) -m devstack.run

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: $(VENV_STAMP) $(PROTO_STAMP)
	$(VENV)/bin/mypy

test: setup lint typecheck
	$(PY) -m pytest

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
