# Quick start: `make demo`, then `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEMPLATES ?= templates/docx
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint bench templates clean

$(BIN)/lifecycle: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]"
	@touch $@

install: $(BIN)/lifecycle

demo: install
	$(BIN)/python -m lifecycle.demo

test: install
	$(BIN)/ruff check src flows templates examples tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src flows templates examples tests bench

templates: install
	$(BIN)/python -m lifecycle.template_builder --out $(TEMPLATES)

bench: install
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info src/*.egg-info
