# Centro Stella: the two commands (make run, make test) and a few helpers.
# Needs only Python 3.11+, Node 20+ and make; everything else is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.9
TOOLS := .venv-tools

.PHONY: run test token lint typecheck bench install clean

install: $(VENV)/.installed node_modules/.installed $(TOOLS)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(VENV)/bin/uv pip install --quiet --python $(PY) -r requirements-dev.txt -c constraints.txt
	touch $@

# The IaC checks' tools (tests/infra), each in its own venv: checkov's hcl2 fork shadows python-hcl2.
$(TOOLS)/.installed: infra/requirements-tools.txt infra/requirements-checkov.txt $(VENV)/.installed
	test -x $(TOOLS)/iac/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)/iac
	$(VENV)/bin/uv pip sync --quiet --python $(TOOLS)/iac/bin/python infra/requirements-tools.txt
	test -x $(TOOLS)/checkov/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)/checkov
	$(VENV)/bin/uv pip sync --quiet --python $(TOOLS)/checkov/bin/python infra/requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

local.settings.json: local.settings.example.json
	test -f $@ || cp $< $@

run: install local.settings.json
	exec $(PY) -m local.run

token: install
	@$(PY) -m local.token $(CF)

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench.host
	$(PY) -m bench.wallet
	$(PY) -m bench.push
	$(PY) -m bench.notices
	$(PY) -m bench.standin
	$(PY) -m bench.cashback

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .local
