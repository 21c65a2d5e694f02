# Two commands do all the set-up on a fresh machine:  make demo  ·  make test
VENV ?= .venv
PYTHON ?= python3
# optional extras to install; CI adds Ray (make test EXTRAS=test,ray) so the batch tests run
EXTRAS ?= test
PY := $(VENV)/bin/python
comma := ,
# one stamp per set of extras: asking for Ray on a venv made without it installs it
INSTALLED := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo demo-headless test test-fast lint docs install clean

$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[$(EXTRAS)]'
	touch $@

install: $(INSTALLED)

demo: $(INSTALLED)          ## the dashboard on the demo replay with the shipped weights (Ctrl-C to stop)
	$(VENV)/bin/mer ui --source demo --autostart

demo-headless: $(INSTALLED) ## the same replay without a browser: prints the events it finds
	$(VENV)/bin/mer demo

test: $(INSTALLED)
	$(PY) -m pytest

test-fast: $(INSTALLED)     ## the tests not marked slow (≈ a minute): for the edit-run loop; CI runs them all
	$(PY) -m pytest -m "not slow"

lint: $(INSTALLED)          ## what CI checks before the tests: ruff's lint rules and its formatting (pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

docs:                       ## the documentation site (mkdocs.yml) into site/; --strict: a broken link or page fails
	$(MAKE) install EXTRAS=$(EXTRAS),docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache site
