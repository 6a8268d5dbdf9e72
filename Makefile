# PVARA: `make demo` runs the main job on sample data; `make test` runs the tests.
# Both set everything up on a fresh machine (virtualenv, services, schema).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PVARA  := $(BIN)/pvara
STAMP  := $(VENV)/.installed

.PHONY: install services migrate test test-ollama lint demo bench down clean image image-test lock audit

# Container image (Dockerfile; k8s/README.md). The tag defaults to the version in pyproject.toml,
# which the production overlay pins. BASE=<ref> builds on another base image; BASE=local builds
# on a Debian base made with debootstrap (no registry of base images needed; buildah only).
IMAGE  ?= pvara/pvara
TAG    ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
BASE   ?=

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

services: install
	$(PVARA) services up

migrate: services
	$(PVARA) migrate

test: migrate
	$(BIN)/pytest $(PYTEST_ARGS)

# The Ollama tier for real: builds the pinned Ollama server once (minutes), serves the bundled
# SmolLM2 model and runs the slow tests against it (README, "The Ollama tier").
test-ollama: migrate
	PVARA_OLLAMA=local $(PVARA) services up
	PVARA_TEST_OLLAMA=1 $(BIN)/pytest -m ollama $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check core ingest tasks screening scheduler api ops tests bench
	$(BIN)/ruff format --check core ingest tasks screening scheduler api ops tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

demo: migrate
	$(PVARA) demo

bench: migrate
	$(BIN)/python bench/ingress.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/screening_eval.py
	$(BIN)/python bench/skill_extraction.py
	$(BIN)/python bench/screening_throughput.py
	$(BIN)/python bench/chaos.py

image: install
	@if command -v docker >/dev/null 2>&1 && [ "$(BASE)" != local ]; then \
	  docker build --build-arg VERSION=$(TAG) $(if $(BASE),--build-arg BASE=$(BASE)) \
	    -t $(IMAGE):$(TAG) . ; \
	else \
	  $(BIN)/python -m ops.image build --tag $(IMAGE):$(TAG) \
	    $(if $(filter local,$(BASE)),--local-base,$(if $(BASE),--base $(BASE))) ; \
	fi

# The image smoke test alone: build on the local base, run `pvara --help` and the API inside it
# against the services until /health/ready answers (also part of `make test`).
image-test: migrate
	$(BIN)/pytest tests/image -q

# requirements.lock: every runtime dependency pinned with hashes (the image installs from it).
lock: install
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url \
	  --no-emit-find-links -o requirements.lock pyproject.toml

audit: install
	$(BIN)/pip-audit --strict --require-hashes --disable-pip -r requirements.lock

down:
	-$(PVARA) services down

clean: down
	rm -rf .pvara $(VENV)
