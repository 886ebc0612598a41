# HPO Portal: `make run` to try it, `make test` to test it, `make bench` to measure it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CHROMIUM ?= /usr/bin/chromium
PYTEST_ARGS ?=

# The locked, hashed dependency sets (Python 3.11, Linux x86_64): the app's, and the app's plus the
# `test` extra's. `make lock` regenerates both from pyproject.toml.
LOCK      := requirements.lock
TEST_LOCK := requirements-test.lock
LOCK_ARGS := --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet

.PHONY: install run test fuzz bench chromium bubblewrap migrate clean lock

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HPO Portal needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(TEST_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# A dependency in pyproject.toml that the lock lacks fails here: run `make lock`.
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

# The test lock is resolved first; the app's lock is the same versions, without the test extra.
lock: | $(BIN)/python
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --extra test $(LOCK_ARGS) -o $(TEST_LOCK)
	$(BIN)/uv pip compile pyproject.toml -c $(TEST_LOCK) $(LOCK_ARGS) -o $(LOCK)

# The browser tests drive Debian's Chromium (a browser cannot be downloaded by Playwright here).
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Install Chromium (Debian: sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium"; exit 1; fi; }

# The local engine sandboxes training jobs with Debian's bubblewrap when it is installed
# (HPO_LOCAL_SANDBOX); without it they run unsandboxed, with a warning.
bubblewrap:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bubblewrap is not installed (Debian: sudo apt-get install bubblewrap): training jobs will run unsandboxed"; fi; }

migrate: install
	DEBUG=1 $(BIN)/python manage.py migrate --noinput

run: install bubblewrap
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo
	@echo
	@echo "  HPO Portal: http://127.0.0.1:8000   log in as alice (password printed above); Ctrl-C stops it"
	@echo
	PATH="$(CURDIR)/$(BIN):$$PATH" DEBUG=1 PYTHONUNBUFFERED=1 $(BIN)/honcho start -f Procfile

test: install chromium bubblewrap
	HPO_CHROMIUM=$(CHROMIUM) $(BIN)/pytest $(PYTEST_ARGS)

# The property tests with new examples on each run, ten times as many (the suite's are fixed).
fuzz: install
	HPO_FUZZ=1 $(BIN)/pytest -q tests/test_spec_properties.py

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf var/test var/screenshots
