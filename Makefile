# PVARA: `make demo` runs the main job on sample data; `make test` runs the tests.
# Both set everything up on a fresh machine (virtualenv, services, schema).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PVARA  := $(BIN)/pvara
STAMP  := $(VENV)/.installed

.PHONY: install services migrate test lint demo bench down clean

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
	$(BIN)/python bench/screening_throughput.py

down:
	-$(PVARA) services down

clean: down
	rm -rf .pvara $(VENV)
