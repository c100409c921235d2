# Quick start: `make demo`, then `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TEMPLATES ?= templates/docx
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint bench bench-all bench-peer-venv templates clean mutate kill-hunt

$(BIN)/lifecycle: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]"
	@# the bytecode pip writes for an installed wheel; with PYTHONDONTWRITEBYTECODE set, an
	@# editable install would compile the checkout's modules again on every command
	$(BIN)/python -m compileall -q src flows
	@touch $@

install: $(BIN)/lifecycle

demo: install
	$(BIN)/python -m lifecycle.demo

test: install
	$(BIN)/ruff check src flows templates examples tests bench
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

define MUTATION_SCORE
import json
s = json.load(open("mutants/mutmut-cicd-stats.json"))
killed = s["killed"] + s["timeout"]
checked = killed + s["survived"] + s["suspicious"] + s["no_tests"] + s["segfault"]
print(f"mutation score: {killed}/{checked} killed ({100 * killed / max(checked, 1):.1f} %)")
endef
export MUTATION_SCORE

# Mutation testing of the core (pyproject.toml [tool.mutmut]); slow, so not part of `make test`.
# A subset: make mutate MUTANTS='lifecycle.calendar* lifecycle.deadlines*'
# On a shared machine: make mutate MUTMUT_FLAGS='--max-children 1'
# The PostgreSQL paths (row locks, ON CONFLICT) are tested when LIFECYCLE_TEST_POSTGRES_URL
# names a server, as .ci/run sets it; without one their mutants survive.
MUTANTS ?=
MUTMUT_FLAGS ?=
mutate: install
	$(BIN)/pip install -q -e ".[dev,mutate]"
	@# mutmut copies src/ once and regenerates only the files it mutates; refresh the others
	@# (cp -p keeps the times, so a changed mutated file is seen as changed and mutated again)
	@# and drop the modules src/ no longer has (a module that became a package would shadow)
	@if [ -d mutants/src ]; then \
		(cd mutants/src && find . -name '*.py' | while read -r f; do \
			[ -e "../../src/$$f" ] || rm -f "$$f" "$$f.meta" "$$f.spans"; done); \
		cp -rup src/. mutants/src/; fi
	$(BIN)/mutmut run $(MUTMUT_FLAGS) $(MUTANTS)
	$(BIN)/mutmut results
	$(BIN)/mutmut export-cicd-stats
	$(BIN)/python -c "$$MUTATION_SCORE"

# The demo killed after each line it prints, re-run, compared with a plain demo (slow: ~30 s
# a kill point; test_demo_kill.py in `make test` kills it at chosen lines).
# A range: make kill-hunt HUNT_FLAGS='--first 13 --last 30 --delays 0'
HUNT_FLAGS ?=
kill-hunt: install
	$(BIN)/python tests/kill_hunt.py $(HUNT_FLAGS)

lint: install
	$(BIN)/ruff check src flows templates examples tests bench

templates: install
	$(BIN)/python -m lifecycle.template_builder --out $(TEMPLATES)

# make bench: the performance table (issue 15), each row against a floor measured in the
# same run, then the summary of every ROW line; make bench-all: every script in bench/.
BENCH_TABLE = bench_status bench_reminders bench_documents bench_write bench_recompute bench_peer_spiff bench_scale
# The peer of bench_peer_spiff.py (SpiffWorkflow) in its own virtualenv: not a dependency.
PEER_VENV ?= .venv-peer
$(PEER_VENV)/bin/python:
	$(PY) -m venv $(PEER_VENV)
	$(PEER_VENV)/bin/pip install -q "SpiffWorkflow>=3,<4"

bench-peer-venv: $(PEER_VENV)/bin/python

bench: install bench-peer-venv
	@rm -f .bench.log
	@for b in $(BENCH_TABLE); do \
		echo "== $$b"; { $(BIN)/python -u bench/$$b.py 2>&1; echo "EXIT $$b $$?"; } | tee -a .bench.log; \
	done
	@echo; echo "== Summary (issue 15)"; grep '^ROW' .bench.log | sed 's/^ROW //'
	@! grep -q '^EXIT .* [1-9]' .bench.log || { grep '^EXIT .* [1-9]' .bench.log; exit 1; }

bench-all: install
	for f in bench/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info src/*.egg-info mutants
