# Two commands do everything on a fresh Debian machine with Python 3.11:
#   make run   install what is missing, build the course artifacts, start the sandbox and the dashboard
#   make test  install what is missing (Chromium included) and run the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium

.PHONY: run test install install-test course catalogs catalogs-update sandbox bench clean

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

course: install catalogs
	$(BIN)/python -m backend course build

# The Italian (and any other) catalogs: locale/<lang>/LC_MESSAGES/mlops_lab.po compiled into build/locale.
CATALOGS := $(patsubst locale/%.po,build/locale/%.mo,$(wildcard locale/*/LC_MESSAGES/mlops_lab.po))
catalogs: $(CATALOGS)
build/locale/%.mo: locale/%.po $(VENV)/.installed
	mkdir -p $(dir $@)
	$(BIN)/pybabel compile --domain mlops_lab --locale $(firstword $(subst /, ,$*)) --input-file $< --output-file $@

# For developers after changing user-facing text: extract the marked strings and merge them into every .po.
catalogs-update: install
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords "N_" --no-location --sort-output \
		--project mlops-aws-lab --output-file locale/mlops_lab.pot .
	$(BIN)/pybabel update --domain mlops_lab --input-file locale/mlops_lab.pot --output-dir locale --no-fuzzy-matching

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
