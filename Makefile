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

# Benchmarks read the public datasets from a folder (never copied into the repo).
SHARED ?= ../shared/data
BENCHES := bench-lm bench-fetch bench-wordcloud bench-vae bench-tense bench-conditioning bench-experiments bench-distributed bench-vae-zoo

.PHONY: install demo test bench $(BENCHES) clean

install: $(STAMP)

$(STAMP): setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	DATASET=$(DATASET) DATA_FROM=$(DATA_FROM) DEMO_DIR=$(DEMO_DIR) BIN=$(BIN) bash scripts/demo.sh

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(BENCHES)

bench-lm: $(STAMP)
	$(PY) bench/lm.py --data-from $(SHARED)/spotify_songs
bench-fetch: $(STAMP)
	$(PY) bench/fetch.py --data $(SHARED)
bench-wordcloud: $(STAMP)
	$(PY) bench/wordcloud.py --from $(SHARED)/spotify_songs
bench-vae: $(STAMP)
	$(PY) bench/vae_ptb.py --data $(SHARED)/ptb
bench-vae-zoo: $(STAMP)
	$(PY) bench/vae_zoo.py --data $(SHARED)/ptb
bench-tense: $(STAMP)
	$(PY) bench/tense.py --data-dir $(SHARED)/verb_tense --jobs 2
bench-conditioning: $(STAMP)
	$(PY) bench/conditioning.py --corpus songs --data-from $(SHARED)/spotify_songs --ceiling-only
	$(PY) bench/conditioning.py --corpus songs --data-from $(SHARED)/spotify_songs
	$(PY) bench/conditioning.py --corpus lyrics --data-from $(SHARED)/spotify_lyrics --ceiling-only
bench-experiments: $(STAMP)
	$(PY) bench/experiments.py --data-from $(SHARED)/spotify_songs
bench-distributed: $(STAMP)
	$(PY) bench/distributed.py --data-from $(SHARED)/spotify_songs

clean:
	rm -rf $(VENV) runs
