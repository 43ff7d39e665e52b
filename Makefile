# The two set-up commands the README promises, and their parts.
#   make demo   start the bundled example server and run mcpgate against it
#   make test   lint (ruff, the import layers), type-check and run the test suite against real MCP servers
#   make bench  the benchmark suite (minutes; not part of make test): mcpgate beside k6, Locust and wrk
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit peers install image-test bench clean

$(BIN)/mcpgate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

install: $(BIN)/mcpgate

demo: install
	$(BIN)/python examples/demo.py

peers:
	tests/peers/install.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

unit: install peers
	MCPGATE_REQUIRE_PEERS=1 $(BIN)/pytest

test: lint typecheck unit

# Builds the container image without a Docker engine (buildah on a debootstrap base) and runs its
# entrypoint for real: the CLI, the hand-over to sh and cat, and the action against the example server.
image-test: install
	tests/container/build-and-test.sh

bench: install
	bench/setup.sh
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .peers .mypy_cache .pytest_cache .ruff_cache
