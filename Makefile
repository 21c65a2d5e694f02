# Two commands do all the set-up on a fresh machine:  make demo  ·  make test
VENV ?= .venv
PYTHON ?= python3
# optional extras to install; CI adds Ray (make test EXTRAS=test,ray) so the batch tests run
EXTRAS ?= test
PY := $(VENV)/bin/python

.PHONY: demo demo-headless test install clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed          ## the dashboard on the demo replay with the shipped weights (Ctrl-C to stop)
	$(VENV)/bin/mer ui --source demo --autostart

demo-headless: $(VENV)/.installed ## the same replay without a browser: prints the events it finds
	$(VENV)/bin/mer demo

test: $(VENV)/.installed
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .pytest_cache
