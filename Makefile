# One entry point for people and CI. Each target sets up the virtualenv it needs
# from the pinned requirements, so a fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: help venv test lint unit integration burst browser demo serve bench reliability lock clean

help:
	@echo "make demo   - deploy the dev stack on the embedded AWS emulator and push sample images through it"
	@echo "make serve  - keep the local stack running for the AWS CLI and imagepipe --local (PORT=5000)"
	@echo "make test   - lint, type-check and run every test (unit, infra mocks, local end-to-end)"
	@echo "make burst  - 500 uploads at once through the local stack, each accounted for (make test sends 100)"
	@echo "make browser - the local console in headless Chromium (installs chromium as root, and Playwright)"
	@echo "make bench  - measured comparisons (writes benchmarks/results.md; BENCH_ARGS=--quick for a short run)"
	@echo "make reliability - bad inputs, faults, a burst and a redrive, measured (writes docs/reliability.md)"

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy infra functions imagepipe policy __main__.py

test: lint
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest -m "not integration"

integration: $(STAMP)
	$(BIN)/pytest -m integration

# The full-size burst (about 7 minutes on two cores); make test runs the same test with 100.
BURST ?= 500
burst: $(STAMP)
	IMAGEPIPE_BURST_UPLOADS=$(BURST) $(BIN)/pytest tests/reliability/test_burst.py

# The local console in a real browser: Debian's chromium (installed here when missing and
# running as root), driven by Playwright's Python driver (tests/browser/requirements.txt),
# which downloads no browser. CHROMIUM=/path/to/chromium picks another one. `make test`
# does not collect tests/browser, so it needs none of this.
CHROMIUM ?=
browser: $(STAMP)
	@if [ -z "$(CHROMIUM)" ] && ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "make browser needs Chromium: apt-get install chromium (as root), or CHROMIUM=/path/to/chromium"; \
	    exit 1; \
	  fi; \
	fi
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r tests/browser/requirements.txt
	CHROMIUM="$(CHROMIUM)" $(BIN)/pytest tests/browser

demo: $(STAMP)
	$(BIN)/imagepipe local demo --out out

# make serve PORT=5001 when 5000 is taken (macOS's AirPlay receiver listens there).
PORT ?= 5000
serve: $(STAMP)
	$(BIN)/imagepipe local serve --port $(PORT)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

reliability: $(STAMP)
	$(BIN)/python -m tests.reliability.report $(RELIABILITY_ARGS)

lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install --quiet -e '.[dev]'
	(echo "# Every dependency pinned: make test and make demo install exactly these (regenerate with: make lock)."; \
	 .lockvenv/bin/pip freeze --all --exclude-editable | grep -v '^pip==' | sort -f) > requirements.txt
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) .build out .pytest_cache .mypy_cache .ruff_cache
