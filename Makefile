# Two commands matter: `make run` (the app with demo data, embedded SQLite + filesystem broker)
# and `make test` (the whole suite against PostgreSQL and Redis). Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

# The test environment: PostgreSQL and Redis on this machine (see .env.example for all names).
TEST_ENV := DEBUG=false \
	SECRET_KEY=test-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz \
	DATABASE_URL=postgres://postgres@127.0.0.1:5432/governance \
	CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
	CACHE_URL=redis://127.0.0.1:6379/15 \
	SECURE_SSL_REDIRECT=false \
	STATIC_ROOT=$(CURDIR)/var/test-static \
	DJANGO_ALLOW_ASYNC_UNSAFE=true

.PHONY: help install run test test-api test-client lint format services chromium wrk bench bench-smoke eval-scanner clean

help:
	@echo "make run    - the app with demo data on http://127.0.0.1:$(PORT) (SQLite, no servers)"
	@echo "make test   - the whole suite on PostgreSQL + Redis (+ Chromium for browser tests)"
	@echo "make test-api - schemathesis against a live server as a job, a steward and an admin"
	@echo "make test-client - the Python client's own tests (clients/python)"
	@echo "make lint   - ruff check and format check"
	@echo "make bench  - hot paths against their floors -> bench/results.md (make bench-smoke: seconds)"
	@echo "make eval-scanner - the PII scanner's accuracy on the labelled corpus (tests/data)"

# The Python client for training jobs (clients/python) is its own package with its own tests;
# the suite's end-to-end test runs its example job, so it is installed with its extras too.
CLIENT := clients/python

$(STAMP): pyproject.toml $(CLIENT)/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet -e "./$(CLIENT)[test,examples]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@bin/run-local $(PORT)

services:
	@bin/ensure-services

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: $(STAMP) services chromium
	$(TEST_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)
	cd $(CLIENT) && $(CURDIR)/$(BIN)/pytest -q

# The client's own tests only (no database, no server).
test-client: $(STAMP)
	cd $(CLIENT) && $(CURDIR)/$(BIN)/pytest -q

# The full schemathesis run (CI runs a bounded one inside `make test`).
test-api: $(STAMP) services
	$(TEST_ENV) SCHEMATHESIS_PRINCIPALS=job,stw,adm SCHEMATHESIS_EXAMPLES=25 SCHEMATHESIS_LIGHT_PHASES=all \
		$(BIN)/pytest -p no:cacheprovider tests/api

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Accuracy of the PII scanner on the labelled corpus; fails when a target of issue 15 is missed.
eval-scanner: $(STAMP)
	$(BIN)/python -m datasets.scanner.evaluate

# Speed against floors (issue 14): a throwaway database (BENCH_DATABASE_URL, governance_bench…),
# gunicorn + wrk for the check API; writes bench/results.json and bench/results.md.
# BENCH_SCALE=smoke|default|large, BENCH_ONLY=check,append,seal,retention,consent,scanner,csv.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
		echo "Installing Debian's wrk for the check API benchmark"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench: $(STAMP) services wrk
	$(TEST_ENV) $(BIN)/python bench/run.py

# Small sizes: every benchmark runs and no ratio is 10x worse than in bench/results.json.
bench-smoke: $(STAMP) services wrk
	$(TEST_ENV) BENCH_SCALE=smoke $(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var/test-static staticfiles .pytest_cache .ruff_cache
