"""Tense CVAE benchmark -> the `tense` section of BENCHMARKS.md.

Trains the character-level CVAE on the lab's train.txt with several seeds and reports,
per seed and as mean ± standard deviation:
  * BLEU-4 on the lab's test pairs (character level, NLTK, smoothing method 1),
  * the Gaussian score (prior samples z ~ N(0, I), each decoded in the 4 tenses, share equal
    to a training line) and how many different verbs those hits are,
  * exact accuracy and BLEU-4 on lemminflect verbs never seen in training (every
    tense conversion of each; verbs whose forms occur in the lab files are excluded),
  * training time: wall clock and CPU time of this process (the machine may be shared,
    so CPU time is the figure that does not depend on other jobs).
Anchors (the lab report): BLEU-4 0.93, Gaussian 0.32. Targets: BLEU-4 >= 0.95,
Gaussian >= 0.6, training under 10 minutes on 2 CPU cores.

Training is the library's: `TrainSettings` (defaults, plus `--settings` overrides) and
`train_tense_cvae`; the network sizes reported are read from the trained model.

    python bench/tense.py --data-dir ../shared/data/verb_tense --seeds 0 1 2
    python bench/tense.py --data-dir ../shared/data/verb_tense --quick   # smoke run: never writes BENCHMARKS.md
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from bench._report import load_text, publish  # noqa: E402
from contextlm.tense.data import (TENSES, lemminflect_verbs, read_test_pairs, read_verb_lines,  # noqa: E402
                                  split_heldout)
from contextlm.tense.model import train_tense_cvae  # noqa: E402
from contextlm.tense.settings import TrainSettings  # noqa: E402

ANCHORS = {"bleu4": 0.93, "gaussian": 0.32}
TARGETS = {"bleu4": 0.95, "gaussian": 0.6, "minutes": 10}
GAUSSIAN_N = 100          # prior samples of the Gaussian score (the lab's)
HELDOUT_FRACTION, HELDOUT_SEED = 0.1, 0
QUICK = dict(seeds=[0], settings={"epochs": 1}, heldout_max=50)  # --quick: a smoke run
IDS = ("vocab_sz", "pad_id", "bos_id", "eos_id", "unk_id")     # not sizes one chooses


def lab_files(data_dir: str | None) -> tuple[Path, Path]:
    if data_dir:
        folder = Path(data_dir)
    else:
        from contextlm.data.datasets import dataset_path
        folder = dataset_path("verb-tense")
    return folder / "train.txt", folder / "test.txt"


def heldout_verbs(train_lines, test_pairs, fraction: float, seed: int, max_verbs: int):
    """lemminflect verbs none of whose forms occur in the lab files, spelled with the training letters."""
    reserved = {w for line in train_lines for w in line} | {w for p in test_pairs for w in (p.src, p.tgt)}
    _, held = split_heldout(lemminflect_verbs(), fraction, seed, reserved)
    letters = set("".join(reserved))
    held = [line for line in held if set("".join(line)) <= letters]
    return held[:max_verbs] if max_verbs else held


def run_seed(seed: int, base: dict, lines, pairs, held) -> dict:
    settings = TrainSettings.from_dict({**base, "seed": seed})
    wall, cpu = time.perf_counter(), time.process_time()
    learn = train_tense_cvae(lines, pairs, settings, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scores = learn.scores(pairs, lines, held, n=GAUSSIAN_N, seed=seed)
    outputs = learn.convert_pairs(pairs)
    network = {k: v for k, v in learn.model.config.to_dict().items() if k not in IDS}
    row = dict(seed=seed, **scores, wall_min=wall / 60, cpu_min=cpu / 60, outputs=outputs, network=network)
    print(json.dumps({k: v for k, v in row.items() if k not in ("outputs", "network")}), flush=True)
    return row


def fmt(values: list[float], digits: int = 3) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def report(rows: list[dict], base: dict, threads: int, n_train: int, n_held: int, pairs,
           load_before: tuple[float, float, float] | None = None) -> str:
    cols = [("bleu4", f"BLEU-4 ({len(pairs)} test pairs)"), ("test_acc", "test exact"),
            ("gaussian", "Gaussian score"),
            ("gaussian_distinct", "distinct verbs hit"), ("heldout_acc", "held-out exact"),
            ("heldout_bleu4", "held-out BLEU-4"), ("wall_min", "train wall (min)"), ("cpu_min", "train CPU (min)")]
    conversions = len(TENSES) * (len(TENSES) - 1)
    networks = {json.dumps(r["network"], sort_keys=True) for r in rows}
    lines = ["## Tense CVAE (character-level CVAE on the sentence-VAE stack)", "",
             f"Lab train.txt ({n_train} verbs), the lab's {len(pairs)} test pairs, {n_held} held-out lemminflect "
             f"verbs (x {conversions} conversions, no form in the lab files). {len(rows)} seed(s), {threads} torch "
             f"thread(s) each. Gaussian score over {GAUSSIAN_N} prior samples. "
             f"Settings (`TrainSettings`): `{json.dumps(base)}`. Network (`VAEConfig` of the trained model"
             f"{'' if len(networks) == 1 else 's: they differ'}): `{' / '.join(sorted(networks))}`.", "",
             "| | " + " | ".join(c[1] for c in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for r in rows:
        lines.append(f"| seed {r['seed']} | " + " | ".join(
            f"{r[c]:.0f}" if c == "gaussian_distinct" else f"{r[c]:.3f}" for c, _ in cols) + " |")
    lines.append("| **mean ± sd** | " + " | ".join(fmt([r[c] for r in rows], 1 if c == "gaussian_distinct" else 3)
                                                  for c, _ in cols) + " |")
    mean = {c: statistics.mean(r[c] for r in rows) for c, _ in cols}
    lines += ["", f"Anchors (lab report): BLEU-4 {ANCHORS['bleu4']}, Gaussian {ANCHORS['gaussian']}. "
              f"Targets: BLEU-4 ≥ {TARGETS['bleu4']} ({'met' if mean['bleu4'] >= TARGETS['bleu4'] else 'missed'}), "
              f"Gaussian ≥ {TARGETS['gaussian']} ({'met' if mean['gaussian'] >= TARGETS['gaussian'] else 'missed'}), "
              f"training < {TARGETS['minutes']} min: worst seed {max(r['cpu_min'] for r in rows):.1f} min of CPU "
              f"({'met' if max(r['cpu_min'] for r in rows) < TARGETS['minutes'] else 'missed'}), "
              f"{max(r['wall_min'] for r in rows):.1f} min of wall clock "
              f"({'met' if max(r['wall_min'] for r in rows) < TARGETS['minutes'] else 'missed'}; "
              f"{load_text(load_before)}).", "",
              "Exact conversions per test line, over the seeds (the lab's words stay out of this file):", "",
              "| line | " + " | ".join(str(i + 1) for i in range(len(pairs))) + " |", "|---" * (len(pairs) + 1) + "|",
              "| condition | " + " | ".join(p.condition for p in pairs) + " |",
              "| exact | " + " | ".join(f"{sum(r['outputs'][i] == p.tgt for r in rows)}/{len(rows)}"
                                      for i, p in enumerate(pairs)) + " |"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="folder with the lab's train.txt and test.txt (default: `contextlm data get`)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=1, help="torch threads (small LSTMs: 1 is as fast as 2)")
    ap.add_argument("--settings", default="{}", help="JSON overrides of TrainSettings, e.g. '{\"epochs\": 10}'")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds trained at once in separate processes (wall times then share the cores)")
    ap.add_argument("--heldout-max", type=int, default=0, help="cap on held-out verbs (0: all)")
    ap.add_argument("--no-report", "--no-write", dest="no_report", action="store_true",
                    help="print only, leave BENCHMARKS.md alone")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run (defaults: seeds {QUICK['seeds']}, settings {json.dumps(QUICK['settings'])}, "
                         f"{QUICK['heldout_max']} held-out verbs); prints the section, writes it only to "
                         "$CONTEXTLM_BENCHMARKS_MD")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # flags given still win
        ap.set_defaults(seeds=QUICK["seeds"], heldout_max=QUICK["heldout_max"])
    args = ap.parse_args(argv)
    if args.quick:
        args.settings = json.dumps({**QUICK["settings"], **json.loads(args.settings)})
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    train_file, test_file = lab_files(args.data_dir)
    lines, pairs = read_verb_lines(train_file), read_test_pairs(test_file)
    held = heldout_verbs(lines, pairs, HELDOUT_FRACTION, HELDOUT_SEED, args.heldout_max)
    base = TrainSettings.from_dict({**TrainSettings().to_dict(), **json.loads(args.settings)}).to_dict()
    base.pop("seed")
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.jobs, initializer=torch.set_num_threads, initargs=(args.threads,)) as pool:
            rows = list(pool.map(run_seed, args.seeds, *zip(*[(base, lines, pairs, held)] * len(args.seeds))))
    else:
        rows = [run_seed(s, base, lines, pairs, held) for s in args.seeds]
    md = report(rows, base, args.threads, len(lines), len(held), pairs, load_before)
    if args.jobs > 1:
        md += f"\n\nThe seeds trained {args.jobs} at a time in separate processes: wall times overlap."
    publish("tense", md, command="python bench/tense.py " + " ".join(sys.argv[1:] if argv is None else argv),
            no_report=args.no_report, quick=args.quick)


if __name__ == "__main__":
    main()
