# FabLab Bridge: the commands a newcomer needs. Everything runs inside .venv,
# created from the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PostgreSQL for the second test pass; skipped when nothing answers there.
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: venv demo test test-fast test-sqlite test-postgres lint audit run bench reliability reliability-ci clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(BIN)/.installed

demo: venv ## run the bridge with its built-in Fabman simulator
	$(BIN)/python main_run.py --demo

run: venv ## run the bridge from .env (development server)
	$(BIN)/python main_run.py

test: venv ## the whole suite, on SQLite and (when reachable) PostgreSQL
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-fast: venv ## unit tests only
	$(BIN)/python -m pytest -q -m "not e2e"

test-sqlite: venv
	$(BIN)/python -m pytest -q --cov --cov-report=term:skip-covered

test-postgres: venv
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(PG_TEST_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -q; \
	else \
		echo "PostgreSQL not reachable at $(PG_TEST_URL): PostgreSQL pass skipped"; \
		if [ -n "$$CI" ]; then exit 1; fi; \
	fi

lint: venv
	$(BIN)/ruff check bridge harness tests bench reliability main_run.py gunicorn.conf.py
	$(BIN)/mypy

# --strict: a dependency the vulnerability service cannot look up fails the audit instead of passing unaudited.
audit: venv ## known vulnerabilities in the pinned production dependencies (needs PyPI's JSON API)
	$(BIN)/pip-audit --strict --progress-spinner off -r requirements.txt

bench: venv ## benchmark: gunicorn + Fabman simulator (20 ms), prints a table, writes bench-results/latest.json
	$(BIN)/python -m bench.run $(BENCH_ARGS)

reliability: venv ## full reliability run (gunicorn + Fabman simulator + SMTP, faults); rewrites RELIABILITY.md
	$(BIN)/python -m reliability --report RELIABILITY.md

reliability-ci: venv ## the same scenarios at CI size (a few minutes); RELIABILITY.md untouched
	$(BIN)/python -m reliability --quick

clean:
	rm -rf $(VENV) .pytest_cache .coverage instance
