# promogate developer tasks. GNU make.
#
#   make build     venv + dependencies + compiled core._engine (in place)
#   make test      ruff, then the test suite against the compiled engine, benchmarks run once as tests
#   make bench     benchmarks (pytest-benchmark), JSON into bench-results/
#   make lint      ruff check, and the import layers of DESIGN.md (lint-imports)
#   make annotate  debug build with Cython's HTML annotation and line tracing
#   make run       gateway + admin for development (store.devrun)
#   make loadtest  locust scenarios (loadtests.run)
#   make bench-gateway  gateway throughput vs a bare ASGI echo app, p50/p99 at half load (loadtests.ceiling)
#   make clean     remove build products (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
RUFF   := $(VENV)/bin/ruff

# Installed into the venv before the project so that setup.py build_ext can run there;
# keep in step with [build-system] requires in pyproject.toml.
BUILD_DEPS := 'setuptools>=70' 'Cython>=3' wheel

EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
ENGINE_SO  := core/_engine$(EXT_SUFFIX)
ENGINE_SRC := core/_engine.py $(wildcard core/_engine.pxd) setup.py
VENV_STAMP := $(VENV)/.installed
# `make annotate` leaves this marker so that the next `make build` goes back to a release build.
DEBUG_MARK := build/.cython-debug

PYTEST_ARGS ?=
BENCH_ARGS  ?=

.PHONY: all venv build test lint bench annotate run loadtest clean distclean FORCE

all: build

venv: $(VENV_STAMP)

$(VENV_STAMP): pyproject.toml setup.py
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip $(BUILD_DEPS)
	PROMOGATE_SKIP_EXT=1 $(VPY) -m pip install -q --no-build-isolation -e '.[test,bench,load]'
	touch $@

build: $(ENGINE_SO)

# The .so is stamped with the time the build STARTED: a source edited during the build stays
# newer than it, so the next `make build` compiles again instead of keeping a stale engine.
$(ENGINE_SO): $(ENGINE_SRC) $(VENV_STAMP) $(if $(wildcard $(DEBUG_MARK)),FORCE)
	started=$$(date +%s) && $(VPY) setup.py build_ext --inplace && touch -d "@$$started" $@
	rm -f $(DEBUG_MARK)

annotate: $(VENV_STAMP)
	PROMOGATE_CYTHON_DEBUG=1 $(VPY) setup.py build_ext --inplace --force
	mkdir -p build && touch $(DEBUG_MARK)
	@echo
	@echo "annotation: $(CURDIR)/core/_engine.html"
	@echo "(core._engine is now a debug build with line tracing; 'make build' restores -O2)"

lint: $(VENV_STAMP)
	$(RUFF) check .
	$(VENV)/bin/lint-imports --no-cache

test: build lint
	PROMOGATE_REQUIRE_COMPILED=1 $(PYTEST) -q tests benchmarks --benchmark-disable $(PYTEST_ARGS)

bench: build
	mkdir -p bench-results
	PROMOGATE_REQUIRE_COMPILED=1 $(PYTEST) benchmarks/ --benchmark-only \
		--benchmark-json=bench-results/bench-$$(date -u +%Y%m%dT%H%M%SZ).json \
		--benchmark-columns=min,median,mean,stddev,ops,rounds $(BENCH_ARGS)

run: build
	$(VPY) -m store.devrun

loadtest: build
	$(VPY) -m loadtests.run

.PHONY: bench-gateway
bench-gateway: build
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bench-gateway: wrk not found, installing it (apt-get install wrk)"; \
	    { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1 || true; \
	  fi; \
	  command -v wrk >/dev/null 2>&1 || echo "bench-gateway: no wrk (apt-get install wrk): saturation falls back to the Python client, ratios are less trustworthy"; }
	$(VPY) -m loadtests.ceiling

clean:
	rm -rf build bench-results .benchmarks .pytest_cache .ruff_cache .hypothesis *.egg-info
	rm -f core/_engine.c core/_engine.html core/_engine*.so core/_engine*.pyd
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

FORCE:
