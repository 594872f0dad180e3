"""What experiments cost and bring (issue 14; not run by CI), on spotify-songs titles:

1. the cost of checkpointing: the same seeded LM trained with and without checkpoints
   (every epoch end and every `--save-every` batches), alternating A B B A so drift in the
   machine's load hits both alike; CPU and wall seconds, and the ratio;
2. a `--trials`-trial Optuna sweep of the LM (`contextlm sweep lm`, `--jobs` workers) over
   lr and drop_mult: the best trial's validation perplexity against the same settings at the
   current defaults (the un-swept run of part 1).

    python bench/experiments.py --data-from ../shared/data/spotify_songs
    python bench/experiments.py --data-from DIR --quick          # a smoke run, prints only
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def settings(args: argparse.Namespace):
    from contextlm.lm.settings import LMSettings
    return LMSettings(features=["energy"], split_col="split", emb_sz=args.emb_sz, n_hid=args.n_hid, n_layers=2,
                      drop_mult=0.5, bs=64, bptt=40, epochs=args.epochs, lr=1e-2, seed=0)


def timed_run(corpus, s, folder: Path | None, save_every: int) -> dict:
    """Train once, single thread; with `folder`, checkpoints there (deleted after)."""
    import shutil
    from contextlm.experiments.checkpoints import Checkpoints
    from contextlm.lm.train import train_lm
    ckpt = Checkpoints(folder, "lm", {"settings": s.to_dict()}, save_every=save_every, overwrite=True) if folder else None
    t, c = time.perf_counter(), time.process_time()
    run = train_lm(corpus, s, progress=False, checkpoint=ckpt)
    out = {"wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
           "valid_ppl": run.metrics["valid"]["perplexity"], "checkpointed": folder is not None}
    if folder:
        out["checkpoint_mb"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        shutil.rmtree(folder, ignore_errors=True)
    return out


def checkpoint_cost(corpus, s, workdir: Path, save_every: int, repeats: int) -> list[dict]:
    order = [False, True, True, False] * max(1, repeats // 2)
    runs = []
    for i, with_ckpt in enumerate(order):
        r = timed_run(corpus, s, workdir / f"ckpt-{i}" if with_ckpt else None, save_every)
        print(f"  {'with' if with_ckpt else 'without'} checkpoints: {r['cpu_s']:.1f} CPU s, valid {r['valid_ppl']:.3f}",
              flush=True)
        runs.append(r)
    return runs


def sweep(args: argparse.Namespace, corpus_path: str, workdir: Path) -> dict:
    from contextlm.cli import main
    from contextlm.experiments.sweep_study import load_sweep_study
    study = workdir / "titles.sqlite"
    argv = ["sweep", "lm", "--data", corpus_path, "--features", "energy", "--split-col", "split",
            "--emb-sz", str(args.emb_sz), "--n-hid", str(args.n_hid), "--n-layers", "2", "--bs", "64", "--bptt", "40",
            "--epochs", str(args.epochs), "--seed", "0", "--study", str(study), "--trials", str(args.trials),
            "--jobs", str(args.jobs), "--param", "lr=log:1e-3:3e-2", "--param", "drop_mult=0.1:1.0",
            "--metric", "valid_perplexity", "--runs-dir", str(workdir / "registry")]
    t = time.perf_counter()
    if main(argv) != 0:
        raise SystemExit("the sweep failed")
    st = load_sweep_study(study)
    states = [str(tr.state).split(".")[-1] for tr in st.trials]
    return {"argv": argv, "wall_s": time.perf_counter() - t, "best": st.best_value, "params": st.best_params,
            "number": st.best_trial.number, "states": {k: states.count(k) for k in set(states)}}


def markdown(args, s, n_docs: dict, runs: list[dict], sw: dict | None) -> str:
    with_c = [r for r in runs if r["checkpointed"]]
    without = [r for r in runs if not r["checkpointed"]]
    ratios = [a["cpu_s"] / b["cpu_s"] for a, b in zip(with_c, without)]
    defaults_ppl = statistics.median(r["valid_ppl"] for r in without)
    same = all(abs(a["valid_ppl"] - without[0]["valid_ppl"]) < 1e-6 for a in runs)
    lines = [f"""## Experiments: the cost of checkpoints, and a sweep (`bench/experiments.py`)

Corpus: spotify-songs titles, {n_docs['train']:,} / {n_docs['valid']:,} training / validation titles (album split).
LM: energy-conditioned AWD-LSTM emb {s.emb_sz} / hidden {s.n_hid} / {s.n_layers} layers, drop_mult {s.drop_mult},
bs {s.bs}, bptt {s.bptt}, {s.epochs} epochs of fit_one_cycle at lr {s.lr}, seed {s.seed}, one thread.

**Checkpoints** (every epoch end and every {args.save_every} batches; runs alternate without / with / with / without):

| run | checkpoints | CPU s | wall s | valid ppl |
|---|---|---|---|---|"""]
    for i, r in enumerate(runs):
        lines.append(f"| {i + 1} | {'yes (' + format(r['checkpoint_mb'], '.1f') + ' MB)' if r['checkpointed'] else 'no'} | "
                     f"{r['cpu_s']:.1f} | {r['wall_s']:.1f} | {r['valid_ppl']:.3f} |")
    lines.append(f"\nCPU time with / without checkpoints: **{statistics.median(ratios):.3f}x** (median of "
                 f"{len(ratios)} pairs: {', '.join(f'{x:.3f}' for x in ratios)}); every run ends at the same "
                 f"validation perplexity: {'yes' if same else 'no'}.")
    if sw:
        lines.append(f"""
**Sweep**: `contextlm sweep lm` over lr (log 1e-3..3e-2) and drop_mult (0.1..1.0), {args.trials} trials, {args.jobs}
worker processes (one thread each), median pruner, the same settings otherwise; trial states {sw['states']};
{sw['wall_s'] / 60:.1f} min. Best trial #{sw['number']}: lr {sw['params']['lr']:.4g}, drop_mult
{sw['params']['drop_mult']:.3f}, validation perplexity **{sw['best']:.3f}** vs **{defaults_ppl:.3f}** at the defaults
(lr {s.lr}, drop_mult {s.drop_mult}): {sw['best'] / defaults_ppl:.3f}x.""")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-from", type=Path, help="folder holding spotify_songs.csv (default: download)")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/contextlm-bench-experiments"))
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--emb-sz", type=int, default=100)
    p.add_argument("--n-hid", type=int, default=200)
    p.add_argument("--save-every", type=int, default=100, help="batches between mid-epoch checkpoints")
    p.add_argument("--repeats", type=int, default=2, help="pairs of runs with and without checkpoints")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--no-sweep", action="store_true")
    p.add_argument("--no-report", action="store_true", help="print only, leave BENCHMARKS.md alone")
    p.add_argument("--quick", action="store_true", help="tiny model, 1 epoch, 2 trials; prints only")
    args = p.parse_args(argv)
    if args.quick:
        args.epochs, args.emb_sz, args.n_hid, args.trials, args.repeats, args.no_report = 1, 16, 32, 2, 1, True
    import torch
    torch.set_num_threads(1)
    from contextlm.data.datasets import get_dataset
    from contextlm.lm.train import load_lm_corpus
    args.workdir.mkdir(parents=True, exist_ok=True)
    path = get_dataset("spotify-songs", args.data_from, args.workdir / "datasets", progress=False)
    s = settings(args)
    corpus = load_lm_corpus(path, s, verbose=False)
    print(f"load average before: {os.getloadavg()}", flush=True)
    runs = checkpoint_cost(corpus, s, args.workdir, args.save_every, args.repeats)
    sw = None if args.no_sweep else sweep(args, str(path), args.workdir)
    md = markdown(args, s, {"train": len(corpus.train), "valid": len(corpus.valid)}, runs, sw)
    md += f"\nLoad average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.\n"
    print(md)
    (args.workdir / "result.json").write_text(json.dumps({"runs": runs, "sweep": sw}, indent=2, default=str))
    if not args.no_report:
        from bench._report import write_section
        print("wrote", write_section("experiments", md, command="python bench/experiments.py " + " ".join(sys.argv[1:])))


if __name__ == "__main__":
    main()
