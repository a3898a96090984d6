# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make run   install what is missing, build the course artifacts, start the sandbox and the dashboard
#   make test  install what is missing (Chromium included) and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium

.PHONY: run test install install-test course sandbox bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	# the `mlops-lab` command (an editable install: it runs this checkout's backend)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test $(CHROMIUM)

# Debian's Chromium drives the browser tests (Playwright's own browser download is not used).
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium

course: install
	$(BIN)/python -m backend course build

run: course
	./scripts/run.sh

sandbox: course
	$(BIN)/python -m backend sandbox

test: install-test course
	$(BIN)/python -m pytest

bench: install-test course
	$(BIN)/python bench/run_all.py

clean:
	rm -rf build .pytest_cache
