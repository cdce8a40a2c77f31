# promogate developer tasks. GNU make.
#
#   make build     venv (exactly requirements.txt, the lock) + compiled core._engine (in place)
#                  + the web UI's npm libraries (package-lock.json) copied into admin/static/vendor/
#   make lock      re-resolve requirements.txt from pyproject.toml (then commit both)
#   make test      ruff, then the test suite against the compiled engine, benchmarks run once as tests
#   make bench     benchmarks (pytest-benchmark), JSON into bench-results/
#   make lint      ruff check, and the import layers of DESIGN.md (lint-imports)
#   make annotate  debug build with Cython's HTML annotation and line tracing
#   make run       gateway + admin (and its web UI at admin's root) for development (store.devrun)
#   make screenshots  the web UI's screens, taken by the browser tests, into docs/screenshots/
#   make loadtest  locust scenarios (loadtests.run)
#   make bench-gateway  gateway throughput vs a bare ASGI echo app, p50/p99 at half load (loadtests.ceiling)
#   make bench-codes-memory  Redis memory per stored code at 1,000,000 codes: bucket hashes vs a key per code (loadtests.codes_memory)
#   make bench-members  1,000,000 loyalty members on a private Redis: memory per member, members/s, O(1) reads and pays (loadtests.members_scale)
#   make bench-redis    Redis us per call (validate, redeem, rollback of one code; loyalty and referral flows) beside a trivial script (loadtests.redis_cost)
#   make bench-stalls   who causes each p99 stall at half load: worker, client, Redis, the VM, GC (loadtests.stalls)
#   make bench-flash    a flash sale on one code: redeems/s, gateway on all cores, private Redis; one Redis core's ceiling (loadtests.flash_sale)
#   make profile-redis  where a one-code redeem's Redis time goes: its FCALL replayed against variants of redeem.lua (loadtests.redis_profile)
#   make bench-ui       the web UI's pages at 1,000 campaigns, 1,000,000 codes, 20,000 ledger entries (loadtests.ui_pages)
#   make bench-wallet   a run of credits as one stream entry against one entry per credit: Redis us and bytes per call (loadtests.wallet_runs)
#   make fuzz      schemathesis on both services' OpenAPI documents, many examples + its CLI (FUZZ_EXAMPLES, FUZZ_SEED)
#   make clean     remove build products (keeps .venv; `make distclean` removes it too)

PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
PYTEST := $(VENV)/bin/pytest
RUFF   := $(VENV)/bin/ruff

# Everything in the venv (dependencies, every extra, and the groups build and tools of
# pyproject.toml) is pinned with hashes in this lock file, written by `make lock` with uv.
LOCK := requirements.txt
UV   := $(VENV)/bin/uv
LOCK_ARGS ?=

EXT_SUFFIX := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
ENGINE_SO  := core/_engine$(EXT_SUFFIX)
ENGINE_SRC := core/_engine.py $(wildcard core/_engine.pxd) core/earning.py $(wildcard core/earning.pxd) setup.py
# built by the same `setup.py build_ext` as the engine (it cimports the engine's .pxd)
EARNING_SO := core/earning$(EXT_SUFFIX)
VENV_STAMP := $(VENV)/.installed
# `make annotate` leaves this marker so that the next `make build` goes back to a release build.
DEBUG_MARK := build/.cython-debug
# admin's web UI: npm packages (package-lock.json) and the files of them admin serves
NPM_STAMP    := node_modules/.installed
VENDOR       := admin/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed
VENDOR_SRC   := node_modules/htmx.org/dist/htmx.min.js node_modules/uplot/dist/uPlot.iife.min.js \
                node_modules/uplot/dist/uPlot.min.css

PYTEST_ARGS ?=
BENCH_ARGS  ?=

.PHONY: all venv lock build test lint bench annotate run loadtest clean distclean FORCE

all: build

venv: $(VENV_STAMP)

# uv itself is pinned in the lock: the machine's pip (its configuration applies) installs just the
# lock's lines for uv, hashes checked, into the venv; from then on `uv pip sync` keeps it in step.
$(UV):
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {p=1; print; next} p && /^ +--hash/ {print; next} p {exit}' $(LOCK) >$(VENV)/uv-requirement.txt
	$(VPY) -m pip install -q --require-hashes --no-deps -r $(VENV)/uv-requirement.txt

# The venv becomes exactly the lock (what it does not pin is removed), then promogate is installed
# editable without resolving anything again; PROMOGATE_SKIP_EXT=1 because the engine is built below.
# Last, every requirement in pyproject.toml must be met: if not, it was edited without `make lock`.
$(VENV_STAMP): $(LOCK) pyproject.toml setup.py | $(UV)
	$(UV) pip sync --python $(VPY) --require-hashes $(LOCK)
	PROMOGATE_SKIP_EXT=1 $(UV) pip install -q --python $(VPY) --no-deps --no-build-isolation -e .
	$(VPY) -c "$$LOCK_CHECK"
	touch $@

define LOCK_CHECK
import importlib.metadata as md
from packaging.requirements import Requirement
meta = md.metadata("promogate")
extras = [""] + (meta.get_all("Provides-Extra") or [])
unmet = []
for line in meta.get_all("Requires-Dist") or []:
    req = Requirement(line)
    if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
        continue
    try:
        have = md.version(req.name)
    except md.PackageNotFoundError:
        have = None
    if have is None or not req.specifier.contains(have, prereleases=True):
        unmet.append(f"{req}  (locked: {have or 'nothing'})")
if unmet:
    raise SystemExit("$(LOCK) does not meet pyproject.toml: run `make lock`, commit both.\n  " + "\n  ".join(unmet))
endef
export LOCK_CHECK

# Re-resolve the lock for CPython 3.11 on Linux x86_64 from pyproject.toml. Versions already in the
# lock are kept unless pyproject.toml now excludes them; to move on, LOCK_ARGS="--upgrade-package
# msgspec" (one package to its newest) or LOCK_ARGS=--upgrade (everything).
# Written beside the venv first (seeded with the lock, whose versions uv prefers) and moved over the
# lock only if it differs: an unchanged lock keeps its mtime, so the venv is not reinstalled.
lock: | $(UV)
	cp $(LOCK) $(VENV)/lock.txt
	$(UV) pip compile -q --python $(VPY) pyproject.toml --all-extras --group build --group tools \
		--python-version 3.11 --python-platform x86_64-unknown-linux-gnu --no-strip-markers \
		--generate-hashes --custom-compile-command 'make lock' --output-file $(VENV)/lock.txt $(LOCK_ARGS)
	@if cmp -s $(VENV)/lock.txt $(LOCK); then rm $(VENV)/lock.txt; echo "$(LOCK): unchanged"; \
	else mv $(VENV)/lock.txt $(LOCK); \
	  echo "$(LOCK): $$(grep -c '^[a-z0-9]' $(LOCK)) packages pinned; commit it with pyproject.toml"; fi

build: $(ENGINE_SO) $(EARNING_SO) $(VENDOR_STAMP)

# Front-end libraries of admin's web UI (htmx, uPlot), pinned exactly in package.json and locked
# in package-lock.json: `npm ci` only when the lock (or package.json, .npmrc) changed, like the venv
# stamp; then the files admin serves are copied into admin/static/vendor/ (git-ignored).
$(NPM_STAMP): package.json package-lock.json .npmrc
	npm ci --ignore-scripts --no-audit --no-fund
	touch $@

$(VENDOR_STAMP): $(NPM_STAMP)
	mkdir -p $(VENDOR)
	cp $(VENDOR_SRC) $(VENDOR)/
	touch $@

$(EARNING_SO): $(ENGINE_SO)
	test -f $@ || { $(VPY) setup.py build_ext --inplace && touch -r $< $@; }

# The .so is stamped with the time the build STARTED: a source edited during the build stays
# newer than it, so the next `make build` compiles again instead of keeping a stale engine.
# In nanoseconds, not whole seconds: the venv stamp written earlier in the same second must stay
# older than the .so, or the next `make build` (say `make run` after `make test`) compiles again.
$(ENGINE_SO): $(ENGINE_SRC) $(VENV_STAMP) $(if $(wildcard $(DEBUG_MARK)),FORCE)
	started=$$(date +%s.%N) && $(VPY) setup.py build_ext --inplace && touch -d "@$$started" $@
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

# The web UI's main screens, taken by its browser tests (tests/browser), into docs/screenshots/
# (a plain `make test` takes them into a temporary directory, so that it leaves the tree clean).
.PHONY: screenshots
screenshots: build
	PROMOGATE_SCREENSHOTS=docs/screenshots PROMOGATE_REQUIRE_BROWSER=1 \
		$(PYTEST) -q -p no:cacheprovider tests/browser $(PYTEST_ARGS)

loadtest: build
	$(VPY) -m loadtests.run

# The bounded run of tests/integration/test_fuzz_openapi.py is part of `make test`; this one sends
# FUZZ_EXAMPLES valid and as many invalid requests to every operation, random ones unless
# FUZZ_SEED names a seed, then runs schemathesis's CLI (coverage, fuzzing, stateful phases).
FUZZ_EXAMPLES ?= 30
FUZZ_SEED     ?= random

.PHONY: fuzz
fuzz: build
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) FUZZ_CLI=1 \
		$(PYTEST) -q -p no:cacheprovider tests/integration/test_fuzz_openapi.py $(PYTEST_ARGS)

# wrk, for the benchmarks that saturate the gateway: installed with apt-get when it is missing
# and make runs as root; $(1) the target, $(2) what happens without it
WRK_INSTALL = command -v wrk >/dev/null 2>&1 || { \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
    echo "$(1): wrk not found, installing it (apt-get install wrk)"; \
    { apt-get update -qq && apt-get install -y -qq wrk; } >/dev/null 2>&1 || true; \
  fi; \
  command -v wrk >/dev/null 2>&1 || echo "$(1): no wrk (apt-get install wrk): $(2)"; }

.PHONY: bench-gateway
bench-gateway: build
	@$(call WRK_INSTALL,bench-gateway,saturation falls back to the Python client (ratios less trustworthy))
	$(VPY) -m loadtests.ceiling

# A private redis-server; ~1 minute (WALLET_CALLS, WALLET_CARDS, WALLET_RULES).
.PHONY: bench-wallet
bench-wallet: build
	$(VPY) -m loadtests.wallet_runs

# A private redis-server; ~50 s (REDIS_COST_CALLS, REDIS_COST_LOYALTY_CALLS, REDIS_COST_SPLIT_EVERY):
# Redis us per call of a validation, a redemption and a rollback of one code, then of the
# loyalty and referral flows, beside a trivial one-key script (issue 13).
.PHONY: bench-redis
bench-redis: build
	$(VPY) -m loadtests.redis_cost

# A private redis-server; under a minute (FLASH_SECONDS, FLASH_LIMIT, FLASH_LIMIT_SECONDS,
# FLASH_WORKERS, FLASH_CONNECTIONS, FLASH_WRK_THREADS, FLASH_HALF_LOAD): one code flooded with
# redeems, the gateway on all cores; Redis us per FCALL and CPU shares; exactly FLASH_LIMIT
# redeemed (issue 13). wrk installed as for bench-gateway.
.PHONY: bench-flash
bench-flash: build
	@$(call WRK_INSTALL,bench-flash,the flood falls back to the Python client)
	$(VPY) -m loadtests.flash_sale

# The shared Redis, as bench-gateway; ~3 minutes with the defaults (STALLS_ENDPOINTS, STALLS_RUNS,
# STALLS_DURATION, STALLS_RATE, STALLS_SLOW_MS, STALLS_SAMPLE_MS, STALLS_GATEWAY_ENV): runs the
# half-load client again and again and says of every stall over 10 ms who was doing what (/proc
# schedstat of worker, client and Redis, a real-time probe per CPU, the worker's GC pauses).
.PHONY: bench-stalls
bench-stalls: build
	@$(call WRK_INSTALL,bench-stalls,the half rate is found with the Python client)
	$(VPY) -m loadtests.stalls

# A private redis-server; ~1-2 minutes (CODES_MEMORY_N, CODES_MEMORY_CARDS): Redis memory per
# stored code, bucket hashes against a key per code, and with loyalty cards mixed in (issue 13).
.PHONY: bench-codes-memory
bench-codes-memory: build
	$(VPY) -m loadtests.codes_memory

# A private redis-server; ~1 minute (PROFILE_CALLS, PROFILE_ROUNDS).
.PHONY: profile-redis
profile-redis: build
	$(VPY) -m loadtests.redis_profile

# A private redis-server; ~2-3 minutes (UI_CAMPAIGNS, UI_CODES, UI_REDEMPTIONS, UI_ROUNDS): the web
# UI's pages timed with 1,000 campaigns, a 1,000,000-code campaign and a 20,000-entry ledger.
.PHONY: bench-ui
bench-ui: build
	$(VPY) -m loadtests.ui_pages

# A private redis-server (clean INFO figures); ~25 minutes with the defaults (MEMBERS_TOTAL,
# MEMBERS_API_SECONDS... in loadtests/members_scale.py); wrk as for bench-gateway.
.PHONY: bench-members
bench-members: build
	@command -v wrk >/dev/null 2>&1 || echo "bench-members: no wrk (apt-get install wrk): saturation falls back to the Python client"
	$(VPY) -m loadtests.members_scale

clean:
	rm -rf build bench-results .benchmarks .pytest_cache .ruff_cache .hypothesis *.egg-info
	rm -f core/_engine.c core/_engine.html core/_engine*.so core/_engine*.pyd
	rm -f core/earning.c core/earning.html core/earning*.so core/earning*.pyd
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules $(VENDOR)

FORCE:
