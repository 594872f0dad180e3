#!/usr/bin/env bash
# `make demo`: train the energy-conditioned LM and its unconditioned twin, compare their
# validation perplexity, and sample at energy 0.1 and 0.9.
#   DATASET=synthetic (default): the shipped data/synthetic_reviews.csv, small model, < 3 min on 2 cores.
#   DATASET=spotify-songs [DATA_FROM=DIR]: the real TidyTuesday corpus (downloaded, or copied from DIR).
set -euo pipefail
BIN=${BIN:-.venv/bin}
DEMO_DIR=${DEMO_DIR:-runs/demo}
case "${DATASET:-synthetic}" in
  synthetic)
    DATA=data/synthetic_reviews.csv
    ARGS=(--features energy --min-freq 1 --emb-sz 64 --n-hid 128 --n-layers 2 --bs 32 --bptt 40 --epochs 5 --lr 2e-2)
    ;;
  spotify-songs)
    DATA=$("$BIN/contextlm" data get spotify-songs ${DATA_FROM:+--from "$DATA_FROM"} --print-path)
    ARGS=(--features energy --split-col split --min-freq 2 --emb-sz 200 --n-hid 400 --n-layers 2 --bs 64 --bptt 40 --epochs 4 --lr 5e-3)
    ;;
  *) echo "unknown DATASET=$DATASET (use synthetic or spotify-songs)" >&2; exit 2 ;;
esac
"$BIN/contextlm" train lm --data "$DATA" --out "$DEMO_DIR/lm" --compare --overwrite "${ARGS[@]}"  # the demo replaces its own run
for e in 0.1 0.9; do
  "$BIN/contextlm" generate --model "$DEMO_DIR/lm" --energy "$e" -n 8 --seed 0 --top-p 0.95 --overwrite \
    --out "$DEMO_DIR/samples_energy_$e.txt"
done
