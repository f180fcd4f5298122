# hierlmm: two commands for a newcomer, `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
OUT ?= out/sleepstudy

.PHONY: setup demo test test-fast test-heavy lint imports bench bench-quick bench-crossed notebooks clean

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

# two xdist workers, one file per unit (module fixtures built once); WORKERS=0 runs serially
WORKERS ?= 2
XDIST = $(if $(filter 0,$(WORKERS)),,-n $(WORKERS) --dist loadfile --no-loadscope-reorder)

test: $(STAMP) imports
	$(PY) -m pytest -q $(XDIST)

test-fast: $(STAMP) imports
	$(PY) -m pytest -q $(XDIST) -m "not slow and not heavy"

# the heavy statistical tests (large recovery studies, SBC power demonstration), not in CI
test-heavy: $(STAMP) imports
	$(PY) -m pytest -q -m heavy

lint: $(STAMP) imports
	$(VENV)/bin/ruff check hierlmm tests benchmarks

# the layers contract of pyproject.toml ([tool.importlinter]): stages import only downwards
imports: $(STAMP)
	$(VENV)/bin/lint-imports --no-logo

bench: $(STAMP)
	$(PY) benchmarks/run.py
	$(PY) benchmarks/glmm_bench.py
	$(PY) benchmarks/crossed.py --fits
	$(PY) benchmarks/many.py --dask

# crossed designs (issue 13): all-factor gradient cost, own exact REML on InstEval
bench-crossed: $(STAMP)
	$(PY) benchmarks/crossed.py

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick

# executes notebooks/*.ipynb with full draws; HTML (and executed) copies in out/notebooks/
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py --html out/notebooks

clean:
	rm -rf $(VENV) out .pytest_cache
