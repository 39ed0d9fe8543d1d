# The front door: every command a developer needs starts here.
#
#   make run    install what is missing, migrate, serve API + worker + scheduler
#   make test   the whole test suite (SQLite unless DATABASE_URL says otherwise)
#   make lint   ruff check + format check, migrations check
#   make fmt    ruff format + autofix
#   make bench  the benchmark (PostgreSQL + Redis on loopback)
#   make fuzz   schemathesis over every operation of the schema, against a fresh service

SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv is used from PATH when present; otherwise it is bootstrapped into a private venv
# (never into the system Python, which PEP 668 systems refuse anyway).
UV_BOOT := .tools/uv-venv
UV := $(shell command -v uv 2>/dev/null || echo $(UV_BOOT)/bin/uv)
PY := .venv/bin/python
PORT ?= 8000
export PORT
# The links in emails point at the API. honcho gives each process of `make run` a PORT of its
# own (web $(PORT), closer +100, mailer +200), so the web's address is fixed here, before.
SITE_URL ?= http://127.0.0.1:$(PORT)
export SITE_URL

.PHONY: help install run serve test test-fast lint fmt check bench bench-quick fuzz superuser clean

help:
	@grep -E '^#   make' Makefile | sed 's/^#   //'

$(UV_BOOT)/bin/uv:
	@command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
	python3 -m venv $(UV_BOOT)
	$(UV_BOOT)/bin/python -m pip install --quiet --disable-pip-version-check uv

.venv/.synced: pyproject.toml uv.lock | $(if $(shell command -v uv 2>/dev/null),,$(UV_BOOT)/bin/uv)
	$(UV) sync --frozen --all-groups
	@touch $@

install: .venv/.synced

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) -m honcho -f Procfile.embedded start --port $(PORT)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

fmt: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

fuzz: install
	.ci/schemathesis

superuser: install
	$(PY) manage.py createsuperuser

bench: install
	$(PY) -m bench.run

bench-quick: install
	$(PY) -m bench.run --quick

clean:
	rm -rf var .pytest_cache
