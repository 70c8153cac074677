# flaskou — the commands people type. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTANCE_PATH ?= $(CURDIR)/instance
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install lock audit run test test-sqlite test-postgresql lint fmt typecheck migration bench screenshots clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The virtualenv holds exactly the locked versions (hashes checked); flaskou
# itself goes in editable and brings no dependency of its own.
$(BIN)/.installed: requirements/dev.txt requirements/runtime.txt requirements/build.txt pyproject.toml scripts/bootstrap-venv.sh
	@PYTHON=$(PYTHON) VENV=$(VENV) scripts/bootstrap-venv.sh
	@touch $@

install: $(BIN)/.installed ## create the virtualenv and install the locked dependencies and flaskou

# The lock files come from pyproject.toml and the real PyPI only: --no-config
# and --index-url keep out local indexes this machine's pip may know, whose
# files the image build (which sees PyPI alone) could not find. --universal
# resolves for every Python flaskou supports (3.11 here and in the stand-in
# base image, 3.12 in python:3.12-slim), with markers where they differ.
# build.txt pins pyproject's [build-system] requires too, so building flaskou
# itself fetches nothing unpinned. Each lock agrees with the one before it.
# Pins already in a lock are kept; LOCK_ARGS=--upgrade moves the unpinned ones.
LOCK_ARGS ?=
UV_COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 \
	--generate-hashes --no-config --index-url https://pypi.org/simple \
	--custom-compile-command "make lock" --quiet $(LOCK_ARGS)
lock: install ## regenerate requirements/*.txt (pinned, hashed) from pyproject.toml
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.txt
	$(UV_COMPILE) pyproject.toml --extra dev --constraint requirements/runtime.txt -o requirements/dev.txt
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(UV_COMPILE) - --constraint requirements/dev.txt -o requirements/build.txt

audit: install ## check the locked dependencies for known vulnerabilities (pip-audit)
	@VENV=$(VENV) scripts/audit-dependencies.sh requirements/runtime.txt requirements/dev.txt

# One gevent worker: login throttling counts in process memory here (no
# REDIS_URL), so a second worker would double the limit; gevent lets the one
# worker serve many connections, slow ones included. The mail delivery worker
# runs beside it and stops with it; with no MAIL_URL it writes each message
# (links included) to this terminal. PUBLIC_URL is localhost (the same
# server): WebAuthn refuses an IP address as relying party, so passkeys need it.
run: install ## serve flaskou on http://127.0.0.1:5000 (SQLite in ./instance), delivering mail
	@mkdir -p $(INSTANCE_PATH)
	@export FLASK_DEBUG=1 INSTANCE_PATH=$(INSTANCE_PATH) PUBLIC_URL=$${PUBLIC_URL:-http://localhost:5000}; \
	  $(BIN)/flask --app flaskou db upgrade && \
	  $(BIN)/flask --app flaskou ensure-admin && \
	  { $(BIN)/flask --app flaskou mail worker & worker=$$!; \
	    trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT; \
	    echo "flaskou: serving on http://127.0.0.1:5000 (open http://localhost:5000 to use passkeys; Ctrl-C stops)"; \
	    $(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:5000 --workers 1 flaskou.wsgi:app; }

test: install ## audit the dependencies, run every test on SQLite and on a real PostgreSQL (side by side)
	@VENV=$(VENV) scripts/audit-dependencies.sh requirements/runtime.txt requirements/dev.txt
	@scripts/install-test-deps.sh
	@VENV=$(VENV) PYTEST_ARGS="$(PYTEST_ARGS)" scripts/test-both-engines.sh

test-sqlite: install ## the tests on SQLite only
	$(BIN)/pytest --db=sqlite $(PYTEST_ARGS)

test-postgresql: install ## the tests on PostgreSQL only
	@scripts/install-test-deps.sh
	$(BIN)/pytest --db=postgresql $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(BIN)/mypy src

fmt: install ## format the code
	$(BIN)/ruff check --fix src tests benchmarks scripts
	$(BIN)/ruff format src tests benchmarks scripts

migration: install ## new migration from the models: make migration m="what changed"
	@test -n "$(m)" || (echo 'usage: make migration m="what changed"'; exit 2)
	FLASK_DEBUG=1 INSTANCE_PATH=$(INSTANCE_PATH) $(BIN)/flask --app flaskou db upgrade
	FLASK_DEBUG=1 INSTANCE_PATH=$(INSTANCE_PATH) $(BIN)/flask --app flaskou db migrate -m "$(m)"

bench: install ## benchmarks (side-by-side comparisons, reported as ratios)
	@scripts/install-test-deps.sh
	$(BIN)/python -m benchmarks

screenshots: install ## photograph the web app into docs/screenshots (for the README)
	@scripts/install-test-deps.sh
	$(BIN)/python scripts/screenshots.py

clean: ## remove the virtualenv and caches (keeps ./instance)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info

.PHONY: loadtest
loadtest: install ## 200 clients for 60 s through nginx to 2 instances; checks nothing is lost, writes docs/loadtest.md
	@scripts/install-test-deps.sh
	$(BIN)/python -m benchmarks.loadtest --clients 200 --seconds 60 --report docs/loadtest.md
