# The two commands of the README:
#   make serve   - create .venv, install deepkernel, serve the API on 127.0.0.1:8000
#   make test    - create .venv, install the dev extras, run lint, types, the OpenAPI check and every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: serve test lint typecheck openapi openapi-check pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(VENV)/.installed $@

serve: $(VENV)/.installed
	$(BIN)/deepkernel serve --host $(HOST) --port $(PORT)

test: lint typecheck openapi-check pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check core api service tests benchmarks examples
	$(BIN)/ruff format --check core api service tests benchmarks examples

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

openapi-check: $(VENV)/.installed-dev
	$(BIN)/deepkernel openapi --check openapi/openapi.json

openapi: $(VENV)/.installed-dev
	$(BIN)/deepkernel openapi --output openapi/openapi.json

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
