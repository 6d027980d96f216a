# Centro Stella: the two commands (make run, make test) and a few helpers.
# Needs only Python 3.11+, Node 20+ and make; everything else is installed here.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
TOOLS := .venv-tools
# The locks, compiled from pyproject.toml with hashes (docs/decisions/0018-compiled-locks.md):
# requirements-dev.txt is what .venv holds (the app and the dev group), requirements.txt what a
# remote build installs in Azure, at the same versions. tests/infra/test_package.py fails when
# either is stale.
UV_COMPILE := $(UV) pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 \
	--custom-compile-command "make lock"
# Browser assets of the API docs page, copied from the npm package into static/ (deployed;
# node_modules is not): docs/decisions/0017-browser-assets-copied-at-build.md.
SWAGGER_UI_FILES := swagger-ui.css swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt \
	favicon-16x16.png favicon-32x32.png LICENSE NOTICE
STATIC := $(addprefix static/swagger-ui/,$(SWAGGER_UI_FILES))
# The back office's page (backoffice/: ours) beside bootstrap-italia's style sheet, icon sprite
# and fonts, flat in static/backoffice/ (served at /api/bo/<name>): docs/backoffice.md.
BI := node_modules/bootstrap-italia/dist
BACKOFFICE_PAGE := index.html early.js backoffice.js backoffice.css print.js files.js journal.js payments.js
BACKOFFICE_FONTS := $(addprefix titillium-web-v10-latin-ext_latin-,regular.woff2 600.woff2 700.woff2) \
	$(addprefix roboto-mono-v13-latin-ext_latin-,regular.woff2)
BACKOFFICE_FILES := $(BACKOFFICE_PAGE) bootstrap-italia.min.css sprites.svg $(BACKOFFICE_FONTS) \
	bootstrap-italia-LICENSE.txt titillium-web-OFL.txt roboto-mono-LICENSE.txt
STATIC += $(addprefix static/backoffice/,$(BACKOFFICE_FILES))

.PHONY: run test test-unit token lint typecheck bench install static lock clean debian

install: debian $(VENV)/.installed node_modules/.installed static $(TOOLS)/.installed

# The Debian packages the app and its tests need: gnupg decrypts acquirers' files
# (docs/cashback-files.md); chromium runs the back office's browser tests (Playwright drives it by
# its executable path); poppler-utils' pdftoppm rasterises PDF pages so tests decode the paper
# notices' QR code and data matrix. Installed as root; otherwise they must already be there.
DEBIAN_PACKAGES := gnupg chromium poppler-utils
debian:
	@{ command -v gpg && command -v chromium && command -v pdftoppm; } >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq $(DEBIAN_PACKAGES); } || \
		{ echo "install the Debian packages: $(DEBIAN_PACKAGES)"; exit 1; }

# uv itself, in the app's venv; the dev lock pins the same version, so a sync keeps it.
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# .venv holds exactly the dev lock (the app's dependencies and the dev group): sync removes the rest.
$(VENV)/.installed: requirements-dev.txt | $(UV)
	$(UV) pip sync --quiet --python $(PY) --require-hashes requirements-dev.txt
	touch $@

# After changing dependencies in pyproject.toml: compile both locks again (existing pins are kept
# where they still fit; add --upgrade to UV_COMPILE's arguments to move them).
lock: | $(UV)
	$(UV_COMPILE) --group dev -o requirements-dev.txt
	$(UV_COMPILE) -c requirements-dev.txt -o requirements.txt

# The IaC checks' tools (tests/infra), each in its own venv: checkov's hcl2 fork shadows python-hcl2.
$(TOOLS)/.installed: infra/requirements-tools.txt infra/requirements-checkov.txt $(VENV)/.installed
	test -x $(TOOLS)/iac/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)/iac
	$(UV) pip sync --quiet --python $(TOOLS)/iac/bin/python infra/requirements-tools.txt
	test -x $(TOOLS)/checkov/bin/python || $(PYTHON) -m venv --without-pip $(TOOLS)/checkov
	$(UV) pip sync --quiet --python $(TOOLS)/checkov/bin/python infra/requirements-checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

static: $(STATIC)

static/swagger-ui/%: node_modules/.installed
	cp node_modules/swagger-ui-dist/$* $@

static/backoffice/%: backoffice/%
	@mkdir -p $(@D)
	cp $< $@
static/backoffice/bootstrap-italia.min.css: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/css/bootstrap-italia.min.css $@
static/backoffice/sprites.svg: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/svg/sprites.svg $@
static/backoffice/titillium-web-%: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/fonts/Titillium_Web/titillium-web-$* $@
static/backoffice/roboto-mono-%: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/fonts/Roboto_Mono/roboto-mono-$* $@
static/backoffice/bootstrap-italia-LICENSE.txt: node_modules/.installed
	@mkdir -p $(@D)
	cp node_modules/bootstrap-italia/LICENSE $@
static/backoffice/titillium-web-OFL.txt: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/fonts/Titillium_Web/OFL.txt $@
static/backoffice/roboto-mono-LICENSE.txt: node_modules/.installed
	@mkdir -p $(@D)
	cp $(BI)/fonts/Roboto_Mono/LICENSE.txt $@

local.settings.json: local.settings.example.json
	test -f $@ || cp $< $@

run: install local.settings.json
	exec $(PY) -m local.run

token: install
	@$(PY) -m local.token $(CF)

# Every check CI runs; a new check is one more prerequisite or line here. The suite's budget is
# 20 minutes on two cores: it runs on both (pytest-xdist, a test file to a worker), then the
# tests marked `solo`, which keep both cores busy on their own, one at a time with nothing beside
# them (docs/decisions/0260-tests-on-both-cores.md). Both parts always run; either failing fails.
# The 25 slowest tests of each part are listed at its end.
test: install lint typecheck
	@status=0; \
	$(PY) -m pytest -n 2 --dist loadfile -m "not solo" --durations=25 || status=$$?; \
	$(PY) -m pytest -m solo --durations=25 || status=$$?; \
	exit $$status

# The fast tier while working: lint, format and the unit tests alone (no emulators, no Node).
test-unit: lint
	$(PY) -m pytest tests/unit -q

# ruff (with the banned azure.functions in shared/), the format, and the architecture's arrows
# (.importlinter: layers, independent capabilities, nothing deployed imports local/tests/bench).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench.host
	$(PY) -m bench.wallet
	$(PY) -m bench.push
	$(PY) -m bench.notices
	$(PY) -m bench.standin
	$(PY) -m bench.cashback
	$(PY) -m bench.outage
	$(PY) -m bench.documents
	$(PY) -m bench.broker

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .local
	rm -f $(STATIC)
