# Every target creates the virtualenv on first use, so a fresh clone needs only Python 3.12.
PYTHON ?= python3.12
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# bpx-py pins cryptography<44 while the newest ccxt needs cryptography>=50: it gets its own
# virtualenv, which tests/simulator/test_third_party.py runs in a subprocess. The main one then
# resolves the [ccxt] extra to the newest ccxt, exactly as a user's `pip install` does.
BPX_VENV  := .venv-bpx
BPX_STAMP := $(BPX_VENV)/.installed

.PHONY: demo test test-fast bench clean venv venv-bpx system-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BPX_STAMP):
	test -x $(BPX_VENV)/bin/python || $(PYTHON) -m venv $(BPX_VENV)
	$(BPX_VENV)/bin/python -m pip install --quiet 'bpx-py>=2.0,<3'
	touch $(BPX_STAMP)

venv: $(STAMP) $(BPX_STAMP)

venv-bpx: $(BPX_STAMP)

# Debian packages some tests need (real proxy, Redis and PostgreSQL servers); a no-op when already present.
system-deps:
	bash scripts/install-system-deps.sh

demo: $(STAMP)
	$(PY) -m cryptofeed_backpack.cli demo

test: $(STAMP) $(BPX_STAMP) system-deps
	$(PY) -m pytest -q

test-fast: $(STAMP) $(BPX_STAMP)
	$(PY) -m pytest -q -m "not slow"

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(BPX_VENV) build *.egg-info .pytest_cache
