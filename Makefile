# The two commands of the README, plus the benchmarks. Each creates .venv if missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Demo settings: the shipped synthetic corpus by default; DATASET=spotify-songs DATA_FROM=DIR
# runs the real corpus (DATA_FROM: a folder holding spotify_songs.csv; omit it to download).
DATASET   ?= synthetic
DATA_FROM ?=
DEMO_DIR  ?= runs/demo

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	DATASET=$(DATASET) DATA_FROM=$(DATA_FROM) DEMO_DIR=$(DEMO_DIR) BIN=$(BIN) bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) bench/lm.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) runs
