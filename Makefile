# Every target creates the virtualenv it needs; `make test` is what CI runs.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: demo test lint typecheck check models bench bench-quick bench-queue bench-memory clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)            ## queue + worker + results on the bundled model, offline
	$(BIN)/python -m scripts.demo

test: $(STAMP)            ## the whole test suite
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

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

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: demo-int8
demo-int8: $(STAMP)       ## remake models/earmark-kws-demo's static int8 graph (needs espeak-ng)
	$(BIN)/python scripts/int8_clips.py calibration /tmp/earmark-int8-calibration
	$(BIN)/earmark optimize models/earmark-kws-demo \
		--calibrate /tmp/earmark-int8-calibration/manifest.txt
