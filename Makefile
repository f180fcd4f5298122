# hierlmm: two commands for a newcomer, `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out/sleepstudy

.PHONY: setup demo test test-fast lint bench bench-quick clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@bash scripts/make-venv.sh $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	@start=$$(date +%s); \
	$(VENV)/bin/hierlmm fit models/sleepstudy.toml --out $(OUT) && \
	echo "demo finished in $$(( $$(date +%s) - start )) s; report in $(OUT)/"

test: $(STAMP)
	$(PY) -m pytest -q

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check hierlmm tests benchmarks

bench: $(STAMP)
	$(PY) benchmarks/run.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick

clean:
	rm -rf $(VENV) out .pytest_cache
