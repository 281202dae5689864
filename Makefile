# The two commands a newcomer needs: `make run` (the payments demo) and `make test`.
# Every target bootstraps .venv itself when it is missing or older than the dependency files.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MUTATE_JOBS ?= 2
# The suite mostly waits on servers, signals and timers: four workers share two cores well.
# PYTEST_JOBS=0 runs it in one process.
PYTEST_JOBS ?= 4
DRILL_APP ?= examples.payments_api.drill:app
DRILL_PROCESSOR_PORT ?= 8011

.PHONY: run test lint bench mutate drill clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=constraints.txt $(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) -m examples.payments_api

# Two runs: the `serial` tests alone on a quiet machine first, then everything else on
# PYTEST_JOBS workers, handed out one test at a time (`--maxschedchunk 1`: xdist's default first
# hands each worker a quarter of its share at once, so the long-running tests, sorted first, all
# queued on one worker). Exit status 5, "nothing selected", is no failure when PYTEST_ARGS picks
# a few tests. Bytecode is written (in the ignored __pycache__ folders) even where
# PYTHONDONTWRITEBYTECODE is set: without it every worker rewrites the asserts of every test
# module again.
test: export PYTHONDONTWRITEBYTECODE =
test: $(STAMP)
	$(PY) -m pytest -m serial $(PYTEST_ARGS); \
	serial=$$?; [ $$serial -eq 5 ] && serial=0; \
	$(PY) -m pytest -n $(PYTEST_JOBS) --dist load --maxschedchunk 1 -m "not serial" $(PYTEST_ARGS); \
	parallel=$$?; [ $$parallel -eq 5 ] && parallel=0; \
	[ $$serial -eq 0 ] && [ $$parallel -eq 0 ]

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests examples benchmarks tools
	$(VENV)/bin/ruff format --check src tests examples benchmarks tools
	$(VENV)/bin/mypy --strict src tests examples benchmarks tools

# Mutation testing of the decision code ([tool.mutmut] in pyproject.toml) against the fast unit
# tests; writes docs/mutation-scores.md and fails when a module is under 90 % killed. Not in CI.
mutate: $(STAMP)
	rm -rf mutants
	$(VENV)/bin/mutmut run --max-children $(MUTATE_JOBS)
	$(PY) -m tools.mutation_scores

# Every gate's failure made to happen against the running demo; the proof lands in drill.json.
# The processor stand-in runs beside it; the drill's payments belong to its own tenant.
drill: $(STAMP)
	$(PY) -m hardened run examples.payments_api.processor:app --port $(DRILL_PROCESSOR_PORT) \
	  --admin-port 0 > /dev/null 2>&1 & processor=$$!; sleep 2; \
	PROCESSOR_URL=http://127.0.0.1:$(DRILL_PROCESSOR_PORT) \
	PAYMENTS_API_KEYS=drill:sk_test_drill_tenant_only \
	$(PY) -m hardened drill $(DRILL_APP) --json drill.json $(DRILL_ARGS); status=$$?; \
	kill $$processor; wait $$processor; exit $$status

bench: $(STAMP)
	$(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache mutants
