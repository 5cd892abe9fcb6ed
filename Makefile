# The two commands: `make demo` (the main job on local defaults) and `make test` (everything CI runs).
# Each bootstraps what it needs on a fresh machine and stops what it starts.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Checkov lives in its own venv: it pins packaging<24 and aiohttp<3.15, which would hold back
# pytest and a runtime dependency in the app's venv (docs/decisions.md#checkov-venv).
INFRA_VENV := .xtenant/infra-venv
INFRA_STAMP := $(INFRA_VENV)/.installed

.PHONY: demo test lint typecheck infra unit integration clean bench bench-scaling bench-big \
	bench-import chaos chromium

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

$(INFRA_STAMP): requirements-infra.txt
	@test -x $(INFRA_VENV)/bin/python || $(PYTHON) -m venv $(INFRA_VENV)
	$(INFRA_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(INFRA_VENV)/bin/python -m pip install --quiet -r requirements-infra.txt
	@touch $(INFRA_STAMP)

demo: $(STAMP)
	$(PY) -m devtools.demo

# `make bench` (N=200) or `make bench N=1000`: the fake cloud with 25 ms per request, guest-cleanup
# through the worker path, against the bare-httpx limit and the naive SDK way (docs/benchmarks.md);
# then each standard in report mode: Graph requests and CPU per (tenant, standard).
N ?= 200
C ?= 32
LATENCY_MS ?= 25
bench: $(STAMP)
	$(PY) -m devtools.bench --n $(N) --c $(C) --latency-ms $(LATENCY_MS)
	$(PY) -m devtools.bench.standards --n 50
	$(PY) -m devtools.bench.importcost

# `import function_app` in fresh processes, telemetry off and on (the Azure Monitor exporter
# configured against 127.0.0.1:1, nothing sent): median, min, max; the target is 0.8 s on.
bench-import: $(STAMP)
	$(PY) -m devtools.bench.importcost

# One 10,000-tenant run through the worker path on Azurite: peak RSS and the run view's time.
bench-big: $(STAMP)
	$(PY) -m devtools.bench.bigrun --n $(or $(BIG_N),10000) --c $(C) --latency-ms $(LATENCY_MS)

# C in {1, 8, 32, 64} x N in {100, 1000}; writes docs/benchmarks.md and docs/benchmarks.png.
bench-scaling: $(STAMP)
	$(PY) -m devtools.bench --scaling --latency-ms $(LATENCY_MS)

# The chaos suite (devtools/chaos): 200 tenants with faults of their own while the identity
# endpoint, the federation, a worker (SIGKILL mid-apply) and Azurite fail, every message is
# delivered twice and the fake cloud's clock runs 4 minutes ahead; prints what must hold (all 0).
# A short form of it runs in `make test` (tests/chaos). `make chaos CHAOS_TENANTS=50` for fewer.
CHAOS_TENANTS ?= 200
chaos: $(STAMP)
	$(PY) -m devtools.chaos --tenants $(CHAOS_TENANTS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy shared devtools function_app.py

# Bicep offline: every file parses (pycep-parser) and Checkov passes against infra/.checkov.yaml.
infra: $(STAMP) $(INFRA_STAMP)
	$(PY) -m devtools.infracheck --checkov $(INFRA_VENV)/bin/checkov

# The console's browser tests (tests/browser) drive the system's Chromium, Debian's package,
# installed here when missing (Playwright's own browser download is never used). If it cannot
# be installed, those tests skip and say why.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	} || echo "chromium could not be installed: the browser tests (tests/browser) will skip"

test: lint typecheck infra chromium
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .xtenant
