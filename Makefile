# Two entry points: `make demo` (the main job) and `make test`. Each creates .venv when
# missing; the stamp makes a second run skip the (large) install unless the pins changed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_OUT ?= runs/demo
PYTEST_ARGS ?=

.PHONY: venv test demo bench lint clean browser docs

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) browser
	$(PY) -m pytest $(PYTEST_ARGS)

# Best effort: Debian's chromium renders the demo report in one test (skipped without it).
browser:
	@command -v chromium >/dev/null 2>&1 || { command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq >/dev/null 2>&1 && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1; } || \
		echo "chromium could not be installed: the report rendering test will be skipped"

# The demo's own folder: a second `make demo` replaces the first (DEMO_OUT=... to keep both).
demo: $(STAMP)
	$(VENV)/bin/ccreid demo --out $(DEMO_OUT) --overwrite

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks experiments
	$(VENV)/bin/ruff format --check src tests benchmarks experiments

clean:
	rm -rf $(VENV) build *.egg-info

docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site
