# FabLab Bridge: the commands a newcomer needs. Everything runs inside .venv,
# created from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test pass; skipped when nothing answers there.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
# PostgreSQL the benchmark measures beside SQLite; it DROPS the bridge's tables there (create it: createdb bench).
# When nothing answers there, `make bench` says so loudly and measures SQLite only.
BENCH_POSTGRES_URL ?= postgresql://postgres@127.0.0.1:5432/bench

# FabLab Bridge needs Python 3.11 or newer (datetime.UTC, among others). An older Python would build the
# venv and fail later with a traceback; instead make stops at once with one line saying what to do.
python_version = $(shell $(1) -c 'import platform; print(platform.python_version())' 2>/dev/null)
supported = $(shell case '$(1)' in (3.1[1-9].*|3.[2-9][0-9].*|[4-9].*) echo yes;; esac)
require_python = $(if $(call supported,$(call python_version,$(1))),,$(error FabLab Bridge needs Python 3.11 or newer; \
	$(1) is $(or $(call python_version,$(1)),not installed) ($(2))))

# Test processes at once. Most tests run in process and keep a core busy, but the end-to-end ones wait (on
# servers starting, Fabman's 2 s after a 429, SMTP), so a few more workers than cores pay off; each PostgreSQL
# worker gets a database of its own (<name>_gw0, ...). Every worker imports the whole suite: with bytecode
# caching on (PYTHONDONTWRITEBYTECODE emptied, whatever the shell says) that takes a third of the time.
TEST_WORKERS ?= 4
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

.PHONY: venv lock demo check test test-fast test-sqlite test-postgres lint audit run bench bench-console reliability reliability-ci clean

# Production dependencies come from requirements.lock: every transitive package pinned with its hashes
# (pip-compile --generate-hashes from requirements.txt, the readable list; `make lock` remakes it).
$(BIN)/.installed: requirements.txt requirements.lock requirements-dev.txt
	$(call require_python,$(PYTHON),set PYTHON=python3.11)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

lock: venv ## remake requirements.lock from requirements.txt (every transitive dependency, with hashes)
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements.lock requirements.txt

venv: $(BIN)/.installed
	$(if $(wildcard $(BIN)/python),$(call require_python,$(BIN)/python,built earlier: run make clean and then make PYTHON=python3.11))

demo: venv ## run the bridge with its built-in Fabman simulator
	$(BIN)/python main_run.py --demo

run: venv ## run the bridge from .env (development server)
	$(BIN)/python main_run.py

# The lint and the two passes run side by side: much of the suite waits (servers starting, SMTP, PostgreSQL),
# and each pass fills the other's waits. Each one's output is printed whole when it ends.
test: venv ## the whole suite: lint and types, and the suite on SQLite and (when reachable) PostgreSQL, side by side
	$(MAKE) --no-print-directory -j3 --output-sync=target lint test-sqlite test-postgres

check: venv ## lint, types and every test that stays in its process (no socket, no server), side by side: the quick loop
	$(MAKE) --no-print-directory -j2 --output-sync=target lint test-fast

test-fast: venv ## every test that stays in its process
	$(PYTEST) -m "not e2e"

test-sqlite: venv
	$(PYTEST) --cov --cov-report=term:skip-covered

test-postgres: venv
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST) --store-only; \
	else \
		echo "PostgreSQL not reachable at $(PG_TEST_URL): PostgreSQL pass skipped"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi

lint: venv
	$(BIN)/ruff check bridge sandbox harness tests bench reliability tools main_run.py gunicorn.conf.py
	$(BIN)/ruff format --check --quiet bridge sandbox harness tests bench reliability tools main_run.py gunicorn.conf.py
	$(BIN)/mypy

# --strict: a dependency the vulnerability service cannot look up fails the audit instead of passing unaudited.
audit: venv ## known vulnerabilities in the pinned production dependencies (needs PyPI's JSON API)
	$(BIN)/pip-audit --strict --progress-spinner off -r requirements.txt

bench: venv ## benchmark on SQLite and PostgreSQL (BENCH_POSTGRES_URL): gunicorn + Fabman simulator (20 ms), tables + bench-results/latest.json
	$(BIN)/python -m bench.run --postgres-url $(BENCH_POSTGRES_URL) $(BENCH_ARGS)
	$(BIN)/python -m bench.console

bench-console: venv ## the staff console's pages over 100,000 results and 20,000 ledger rows (part of make bench)
	$(BIN)/python -m bench.console

reliability: venv ## full reliability run (gunicorn + Fabman simulator + SMTP, faults); rewrites docs/reliability.md
	$(BIN)/python -m reliability --report docs/reliability.md

reliability-ci: venv ## the same scenarios at CI size (a few minutes); docs/reliability.md untouched
	$(BIN)/python -m reliability --quick

# Only what can be rebuilt: the venv and caches. Never instance/, which holds the default SQLite store
# and with it the permanent ledger of granted trainings.
clean: ## remove the venv and caches (the store in instance/ stays)
	rm -rf $(VENV) .pytest_cache .coverage htmlcov .hypothesis .ruff_cache .mypy_cache
	find . -name __pycache__ -type d -not -path './instance/*' -prune -exec rm -rf {} +
