# Every target creates the virtualenv it needs; `make test` is what CI runs. `make` alone lists
# the targets. ARGS goes to pytest in every test target: make test ARGS="tests/test_refs.py -k id".
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo
ARGS    ?=
# pytest-xdist processes: the suite is half waiting (delivery timers, outages), half CPU; two
# fill this project's 2-core machines. Whole files go to one process (--dist loadfile), so a
# module's workers are started once.
NPROC   ?= 2

.DEFAULT_GOAL := help
.PHONY: help demo test test-fast lint format typecheck check models bench bench-quick bench-queue \
	bench-memory docs clean

help:                     ## this list: every target and what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-14s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

# Everything: the tools and test dependencies (`make test` and the rest).
$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP) $(DEMO_STAMP)

# Only what the demo runs: the worker extra (the producer comes with it), no test tools. The
# full install includes it, so a venv made by `make test` needs nothing more, and one made by
# `make demo` gets the rest at the first `make test`.
$(DEMO_STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[worker]"
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)       ## queue + worker + results on the bundled model, offline (worker extra only)
	$(BIN)/python -m scripts.demo

test: $(STAMP)            ## the whole suite, as CI runs it; ARGS="..." goes to pytest
	$(BIN)/pytest -q -n $(NPROC) --dist loadfile --durations=25 $(ARGS)

test-fast: $(STAMP)       ## pure and in-process tests, no worker or earmark process (about 1 min)
	$(BIN)/pytest -q -n $(NPROC) -m "not worker and not slow and not process" $(ARGS)

lint: $(STAMP)            ## ruff: lint and format check, changing nothing
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Fixes first: a fix can leave lines that the formatter then rewraps.
format: $(STAMP)          ## ruff check --fix, then ruff format: rewrites files in place
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP)       ## mypy: strict on producer, worker, scripts and bench; tests relaxed
	$(BIN)/mypy

check: lint typecheck test  ## lint, types and the whole suite: what CI runs

models: $(STAMP)          ## regenerate tests/data (needs torch: pip install -e ".[reference]")
	$(BIN)/python scripts/make_test_models.py

bench: $(STAMP)           ## ceiling, earmark (in process, queue), transformers: wav2vec2-base and AST
	$(BIN)/python -m bench

bench-quick: $(STAMP)     ## the same on the tiny test models: a smoke run, no torch needed
	$(BIN)/python -m bench --quick

bench-queue: $(STAMP)     ## the queue vs in-process on one worker: throughput, enqueue rate, latency
	$(BIN)/python -m bench.queue

bench-memory: $(STAMP)    ## a worker's peak memory on mixed-length audio, per memory setting
	$(BIN)/python -m bench.memory

docs: $(STAMP)            ## preview the docs/ site on http://127.0.0.1:8000 (tests build it --strict)
	$(BIN)/mkdocs serve

clean:                    ## remove the virtualenv and the tools' caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site

.PHONY: demo-int8
demo-int8: $(STAMP)       ## remake models/earmark-kws-demo's static int8 graph (needs espeak-ng)
	$(BIN)/python scripts/int8_clips.py calibration /tmp/earmark-int8-calibration
	$(BIN)/earmark optimize models/earmark-kws-demo \
		--calibrate /tmp/earmark-int8-calibration/manifest.txt
