"""Tense CVAE benchmark -> the `tense` section of BENCHMARKS.md.

Trains the character-level CVAE on the lab's train.txt with several seeds and reports,
per seed and as mean ± standard deviation:
  * BLEU-4 on the lab's 10 test pairs (character level, NLTK, smoothing method 1),
  * the Gaussian score (100 z ~ N(0, I), each decoded in the 4 tenses, share equal to a
    training line) and how many different verbs those hits are,
  * exact accuracy and BLEU-4 on lemminflect verbs never seen in training (all 12
    tense conversions of each; verbs whose forms occur in the lab files are excluded),
  * training time: wall clock and CPU time of this process (the machine may be shared,
    so CPU time is the figure that does not depend on other jobs).
Anchors (the lab report): BLEU-4 0.93, Gaussian 0.32. Targets: BLEU-4 >= 0.95,
Gaussian >= 0.6, training under 10 minutes on 2 CPU cores.

    python bench/tense.py --data-dir ../shared/data/verb_tense --seeds 0 1 2
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

from bench._report import write_section  # noqa: E402
from contextlm.tense.data import lemminflect_verbs, read_test_pairs, read_verb_lines, split_heldout  # noqa: E402
from contextlm.tense.model import TrainSettings, train_tense_cvae  # noqa: E402

ANCHORS = {"bleu4": 0.93, "gaussian": 0.32}
TARGETS = {"bleu4": 0.95, "gaussian": 0.6, "minutes": 10}


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
    scores = learn.scores(pairs, lines, held, n=100, seed=seed)
    outputs = learn.convert_pairs(pairs)
    row = dict(seed=seed, **scores, wall_min=wall / 60, cpu_min=cpu / 60, outputs=outputs)
    print(json.dumps({k: v for k, v in row.items() if k != "outputs"}), flush=True)
    return row


def fmt(values: list[float], digits: int = 3) -> str:
    mean = statistics.mean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def report(rows: list[dict], base: dict, threads: int, n_train: int, n_held: int, pairs) -> str:
    cols = [("bleu4", "BLEU-4 (10 test pairs)"), ("test_acc", "test exact"), ("gaussian", "Gaussian score"),
            ("gaussian_distinct", "distinct verbs hit"), ("heldout_acc", "held-out exact"),
            ("heldout_bleu4", "held-out BLEU-4"), ("wall_min", "train wall (min)"), ("cpu_min", "train CPU (min)")]
    lines = ["## Tense CVAE (character-level CVAE on the sentence-VAE stack)", "",
             f"Lab train.txt ({n_train} verbs), the lab's 10 test pairs, {n_held} held-out lemminflect verbs "
             f"(x 12 conversions, no form in the lab files). {len(rows)} seeds, {threads} torch thread(s) each. "
             f"Settings: `{json.dumps(base)}`.", "",
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
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores when the run ended).", "",
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
    ap.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    train_file, test_file = lab_files(args.data_dir)
    lines, pairs = read_verb_lines(train_file), read_test_pairs(test_file)
    held = heldout_verbs(lines, pairs, 0.1, 0, args.heldout_max)
    base = {**TrainSettings().to_dict(), **json.loads(args.settings)}
    base.pop("seed")
    if args.jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(args.jobs, initializer=torch.set_num_threads, initargs=(args.threads,)) as pool:
            rows = list(pool.map(run_seed, args.seeds, *zip(*[(base, lines, pairs, held)] * len(args.seeds))))
    else:
        rows = [run_seed(s, base, lines, pairs, held) for s in args.seeds]
    md = report(rows, base, args.threads, len(lines), len(held), pairs)
    if args.jobs > 1:
        md += f"\n\nThe seeds trained {args.jobs} at a time in separate processes: wall times overlap."
    print(md)
    if not args.no_write:
        print("wrote", write_section("tense", md))


if __name__ == "__main__":
    main()
