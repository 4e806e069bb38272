PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench lint screenshots clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,devslack]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

# `make demo NMBRS_API=soap` links new onboardings through the SOAP API (rest: the default).
demo: $(STAMP)
	$(BIN)/onboard-bot demo $(if $(NMBRS_API),--nmbrs-api $(NMBRS_API))

# Every picture in docs/screenshots/ that README.md and docs/ show, taken afresh by the browser
# tests that walk the demo (each walk names its pictures with a prefix of its own).
screenshots: $(STAMP)
	@test -x /usr/bin/chromium || { echo "make screenshots needs Debian's chromium: apt-get install chromium fonts-noto-color-emoji"; exit 1; }
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest -q -n 0 -p no:cacheprovider -m browser tests/e2e/test_browser_*.py
	$(BIN)/pytest -q -n 0 -p no:cacheprovider tests/test_docs.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache
