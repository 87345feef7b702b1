# reddsim: `make run` runs the Los Amigos default; `make test` runs the test suite.
# Both create .venv with the locked dependencies on first use.

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
RUN   ?= runs/los-amigos

# A Python 3.12 interpreter: python3.12 on PATH, else pyenv's versions, else uv's.
PYTHON312 ?= $(shell \
	command -v python3.12 2>/dev/null && exit 0; \
	for p in $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python3.12; do \
	  [ -x "$$p" ] && echo "$$p" && exit 0; done; \
	command -v uv >/dev/null 2>&1 && uv python find 3.12 2>/dev/null && exit 0; \
	true)

.PHONY: run monitoring test test-slow calibration bench lint data clean help

help:
	@echo "make run    - install (first time) and run $(RUN); prints where the appendix is"
	@echo "make monitoring - the Los Amigos monitoring example (makes its validated ex-ante run once)"
	@echo "make test   - install (first time) and run the test suite"
	@echo "make test-slow - also run the slow statistical checks"
	@echo "make bench  - benchmark the simulation (python -m simulator.bench)"
	@echo "make calibration - SBC and whole-chain coverage (also misspecified) report in tests/reports/"
	@echo "make lint   - ruff"

$(VENV)/.installed: requirements.lock pyproject.toml
	@if [ -z "$(PYTHON312)" ]; then \
	  echo "error: Python 3.12 is needed (python3.12 on PATH, pyenv's ~/.pyenv/versions/3.12*, or 'uv python install 3.12')" >&2; \
	  exit 2; fi
	@"$(PYTHON312)" -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' || \
	  { echo "error: $(PYTHON312) is not Python 3.12" >&2; exit 2; }
	"$(PYTHON312)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

run: $(VENV)/.installed
	$(VENV)/bin/reddsim run $(RUN)

# The monitoring example: the validated ex-ante run (made once), then the monitoring run.
monitoring: $(VENV)/.installed
	@[ -f runs/los-amigos/out/validated/manifest.json ] || \
	  $(VENV)/bin/reddsim run runs/los-amigos --out runs/los-amigos/out/validated
	$(VENV)/bin/reddsim run runs/los-amigos-monitoring

test: $(VENV)/.installed
	$(PY) -m pytest -m "not slow" -p no:cacheprovider

test-slow: $(VENV)/.installed
	$(PY) -m pytest -m slow -p no:cacheprovider

bench: $(VENV)/.installed
	$(PY) -m simulator.bench

calibration: $(VENV)/.installed
	$(PY) -m benchmarks.calibration

lint: $(VENV)/.installed
	$(PY) -m ruff check simulator models tests

data: $(VENV)/.installed
	$(PY) $(RUN)/generate_data.py
	$(PY) $(RUN)/generate_maps.py

clean:
	rm -rf $(VENV) build *.egg-info
