"""Benchmark of `contextlm wordcloud` on the spotify-songs corpus (track titles).

1. `contextlm data get spotify-songs` and `contextlm train lm --features energy --compare`
   (a small AWD-LSTM and its unconditioned twin, same data, settings and seed);
2. word clouds at energy 0.1 vs 0.9 from both models, scored by one TF-IDF + ridge
   text->energy regressor fit on the training titles: the AUC lowest vs highest level
   should be clearly above 0.5 for the conditioned model and near 0.5 for the twin;
3. the same analysis on real titles (bottom vs top energy quintile, out-of-fold scores)
   as the ceiling a model could reach;
4. sampling speed: the trained model, and an AWD-LSTM of fastai's default size.

    python bench/wordcloud.py --from ../shared/data/spotify_songs
    python bench/wordcloud.py --from ../shared/data/spotify_songs --quick   # smoke run, prints only

Writes its section of BENCHMARKS.md (not with --no-report; with --quick only to
$CONTEXTLM_BENCHMARKS_MD) and the clouds under --workdir.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# This file is named like the `wordcloud` package: keep bench/ off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
sys.path.insert(0, str(ROOT))


CLEAR_GAIN = 0.05  # AUC gain over the twin called "clearly" easier to tell apart
QUICK = dict(rows=4_000, epochs=1, n_words=1_000, workdir=ROOT / "runs" / "bench-wordcloud-quick")  # a smoke run


def _report_module():
    """bench/_report.py, imported by path (bench/ is off sys.path)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_report", BENCH / "_report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sh(*argv: str) -> str:
    """Run the contextlm command line, echo it, return its stdout."""
    cmd = [sys.executable, "-m", "contextlm", *argv]
    print("$ contextlm " + " ".join(argv), flush=True)
    res = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if res.returncode:
        raise SystemExit(f"failed ({res.returncode}): {' '.join(cmd)}")
    return res.stdout


def default_size_speed(small_lm, n_words: int, seed: int, batch_size: int,
                       energy: float) -> tuple[float, float, int, int]:
    """Wall and CPU seconds, words and texts for sampling `n_words` from fastai's default-size AWD-LSTM
    (untrained weights, the trained model's vocab: the cost per step does not depend on
    the weights, but untrained texts run to max_len rather than ending like titles)."""
    from contextlm.analysis.sampling import sample_words
    from contextlm.analysis.counts import words
    from contextlm.lm.learner import TrainedLM
    from contextlm.lm.model import DEFAULT_LM_CONFIG, context_language_model
    model = context_language_model(len(small_lm.vocab), len(small_lm.feature_names), dict(DEFAULT_LM_CONFIG)).eval()
    big = TrainedLM(model, small_lm.vocab, small_lm.feature_names, small_lm.scaler, small_lm.feature_stats,
                    dict(DEFAULT_LM_CONFIG))
    t0, c0 = time.perf_counter(), time.process_time()
    texts = sample_words(big, {"energy": energy}, n_words, seed=seed, batch_size=batch_size)
    return (time.perf_counter() - t0, time.process_time() - c0, sum(len(words(t)) for t in texts), len(texts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="from_dir", default=str(ROOT.parent / "shared" / "data" / "spotify_songs"))
    ap.add_argument("--workdir", help="models, clouds and bench.json (default: runs/bench-wordcloud; "
                                      "with --quick runs/bench-wordcloud-quick)")
    ap.add_argument("--emb-sz", type=int, default=100)
    ap.add_argument("--n-hid", type=int, default=256)
    ap.add_argument("--n-layers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--bs", type=int, default=128)
    ap.add_argument("--bptt", type=int, default=40)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--n-words", type=int, default=10_000)
    ap.add_argument("--levels", type=float, nargs=2, default=[0.1, 0.9])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retrain", action="store_true", help="train again even if the model folders exist")
    ap.add_argument("--skip-default-size", action="store_true")
    ap.add_argument("--no-report", action="store_true", help="print only, leave BENCHMARKS.md alone")
    ap.add_argument("--quick", action="store_true",
                    help=f"smoke run on {QUICK['rows']:,} random rows of the corpus (defaults: {QUICK['epochs']} "
                         f"epoch, {QUICK['n_words']:,} words per level, its own workdir); "
                         "prints the section, writes it only to $CONTEXTLM_BENCHMARKS_MD")
    if "--quick" in sys.argv[1:]:  # flags given still win
        ap.set_defaults(epochs=QUICK["epochs"], n_words=QUICK["n_words"], retrain=True)
    args = ap.parse_args()
    work = Path(args.workdir or (QUICK["workdir"] if args.quick else ROOT / "runs" / "bench-wordcloud")).resolve()
    load_before = os.getloadavg()
    work.mkdir(parents=True, exist_ok=True)

    corpus = sh("data", "get", "spotify-songs", "--from", args.from_dir, "--cache", str(work / "datasets"),
                "--print-path").strip().splitlines()[-1]
    if args.quick:  # the same steps on a random sample of the corpus file (inside the quick workdir)
        import pandas as pd
        small = work / f"quick_{Path(corpus).name}"
        pd.read_csv(corpus).sample(QUICK["rows"], random_state=0).to_csv(small, index=False)
        corpus = str(small)
    lm_dir, base_dir = work / "lm", work / "lm-baseline"
    if args.retrain or not (lm_dir / "config.json").exists() or not (base_dir / "config.json").exists():
        t0 = time.perf_counter()
        print(sh("train", "lm", "--data", corpus, "--features", "energy", "--compare", "--emb-sz", str(args.emb_sz),
                 "--n-hid", str(args.n_hid), "--n-layers", str(args.n_layers), "--epochs", str(args.epochs),
                 "--bs", str(args.bs), "--bptt", str(args.bptt), "--lr", str(args.lr), "--seed", str(args.seed),
                 "--out", str(lm_dir), "--overwrite")[-600:])  # the bench's own folders (--retrain replaces them)
        print(f"trained both models in {time.perf_counter() - t0:.0f} s")

    from contextlm.analysis.pipeline import corpus_wordcloud, model_wordcloud, training_texts
    from contextlm.analysis.regressor import FeatureRegressor
    from contextlm.lm.learner import load_lm

    lm, base = load_lm(lm_dir), load_lm(base_dir)
    texts, y, _ = training_texts(lm.train_data, "energy")
    reg = FeatureRegressor().fit(texts, y)
    runs = {}
    for name, model in [("conditioned", lm), ("unconditioned", base)]:
        out = work / f"clouds-{name}"
        shutil.rmtree(out, ignore_errors=True)
        runs[name] = model_wordcloud(model, "energy", args.levels, out, n_words=args.n_words, seed=args.seed,
                                     regressor=reg, title=f"Spotify titles sampled from the {name} LM, by energy")
    real_out = work / "clouds-real-titles"
    shutil.rmtree(real_out, ignore_errors=True)
    real = corpus_wordcloud(corpus, "energy", real_out, bins=5, seed=args.seed,
                            title="Real Spotify titles, by energy quintile (all splits, out-of-fold scores)")
    import inspect
    first_bs = inspect.signature(model_wordcloud).parameters["batch_size"].default  # what model_wordcloud used
    big = None if args.skip_default_size else default_size_speed(lm, args.n_words, args.seed, first_bs,
                                                                 args.levels[1])

    def ppl(model) -> str:
        m = model.extra.get("metrics", {}).get("valid", {})
        return f"{m['perplexity']:.1f}" if "perplexity" in m else "?"

    from contextlm.lm.model import DEFAULT_LM_CONFIG
    lo, hi = (f"energy={v:g}" for v in args.levels)
    gain = runs["conditioned"].comparison.scores.auc - runs["unconditioned"].comparison.scores.auc
    rc = real.comparison
    easier = "easier" if gain > 0 else "no easier"
    verdict = (f"The conditioned model's samples are {'clearly' if gain >= CLEAR_GAIN else 'barely'} {easier} to tell "
               f"apart than the twin's (AUC {gain:+.3f}; 'clearly' means a gain of at least {CLEAR_GAIN}); validation "
               f"perplexity {ppl(lm)} vs the twin's {ppl(base)}. Real titles carry "
               f"{'more' if rc.scores.auc > runs['conditioned'].comparison.scores.auc else 'no more'} signal than "
               f"the samples show (AUC below): a title-level scorer is the judge here.")
    min_z = inspect.signature(type(runs["conditioned"].comparison).distinctive).parameters["min_z"].default
    rows = []
    for name, r in runs.items():
        c = r.comparison
        d_lo = ", ".join(f"{w} ({z:.1f})" for w, z in c.distinctive(lo, 6)) or f"none with z ≥ {min_z}"
        d_hi = ", ".join(f"{w} ({z:.1f})" for w, z in c.distinctive(hi, 6)) or f"none with z ≥ {min_z}"
        rows.append(f"| {name} | {ppl(lm if name == 'conditioned' else base)} | {c.scores.mean[lo]:.3f} | "
                    f"{c.scores.mean[hi]:.3f} | **{c.scores.auc:.3f}** | {d_lo} | {d_hi} |")
    rl, rh = rc.labels[0], rc.labels[-1]
    speed = [f"| {args.emb_sz}/{args.n_hid}/{args.n_layers} (the benchmarked model, trained) | {lv} | "
             f"{r.comparison.n_words[lv]:,} | {len(r.comparison.texts[lv]):,} | {r.seconds[lv]:.1f} | "
             f"{r.cpu_seconds[lv]:.1f} |"
             for r in runs.values() for lv in (lo, hi)][:2]
    if big:
        size = "/".join(str(DEFAULT_LM_CONFIG[k]) for k in ("emb_sz", "n_hid", "n_layers"))
        speed.append(f"| {size} (fastai default size, untrained weights: texts run to the length limit) | "
                     f"{hi} | {big[2]:,} | {big[3]:,} | {big[0]:.1f} | {big[1]:.1f} |")
    report = _report_module()
    md = f"""## Word clouds: energy {args.levels[0]:g} vs {args.levels[1]:g} (`contextlm wordcloud`)

Corpus: spotify-songs titles ({len(texts):,} training titles{', of a random sample (--quick)' if args.quick else ''}; split by album). Models: AWD-LSTM
emb {args.emb_sz} / hidden {args.n_hid} / {args.n_layers} layers, {args.epochs} epochs, bs {args.bs}, bptt {args.bptt},
lr {args.lr}, seed {args.seed}, energy-conditioned and its unconditioned twin (`train lm --compare`).
Samples: {args.n_words:,} words per level, temperature 1, seed {args.seed}. Scorer: TF-IDF + ridge
text->energy regressor fit on the training titles, the same for both models.

| model | valid ppl | predicted energy @ {args.levels[0]:g} | @ {args.levels[1]:g} | AUC {args.levels[0]:g} vs {args.levels[1]:g} | distinctive @ {args.levels[0]:g} (z) | distinctive @ {args.levels[1]:g} (z) |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

{verdict}

Reference, real titles (all {sum(len(t) for t in rc.texts.values()):,}), bottom vs top energy quintile
({rl} vs {rh}, out-of-fold scores): predicted energy {rc.scores.mean[rl]:.3f} vs {rc.scores.mean[rh]:.3f},
AUC **{rc.scores.auc:.3f}**: the most a title-level scorer can see in real titles.

Sampling speed (`sample_words`: a first batch of {first_bs}, then what is still needed in wider batches;
over the whole run, {report.load_text(load_before)}: on a shared machine the wall clock also
measures the other jobs; CPU seconds are this process's, all its threads together):

| model (emb/hidden/layers) | level | words | texts | wall s | CPU s |
|---|---|---|---|---|---|
{chr(10).join(speed)}

Clouds: `{(work / 'clouds-conditioned' / 'clouds.png')}`,
`{(work / 'clouds-unconditioned' / 'clouds.png')}`,
`{(real_out / 'clouds.png')}` (not committed; rerun to get them).
"""
    (work / "bench.json").write_text(json.dumps({
        "auc": {k: r.comparison.scores.auc for k, r in runs.items()}, "real_auc": rc.scores.auc,
        "seconds": {k: r.seconds for k, r in runs.items()},
        "cpu_seconds": {k: r.cpu_seconds for k, r in runs.items()}, "default_size": big}, indent=2))
    report.publish("wordcloud", md, command="python bench/wordcloud.py " + " ".join(sys.argv[1:]),
                   no_report=args.no_report, quick=args.quick)
    print(f"clouds under {work}")


if __name__ == "__main__":
    main()
