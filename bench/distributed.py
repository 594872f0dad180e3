"""Data-parallel throughput (issue 15; not run by CI), on spotify-songs titles:

1. CPU: the same `contextlm train lm` as 1 process and as 2 processes (`accelerate launch --cpu
   --num_processes 2`), side by side in one run; tokens/s = training tokens of all epochs / wall
   seconds of the whole command (startup and data preparation included, the same for both).
2. `--device cuda`: in one process, tokens/s of the default AWD-LSTM size, conditioned (ours)
   and unconditioned (fastai's own `AWD_LSTM`, the same code path with no features), fp32 vs
   bf16 mixed precision; timed around `fit` only.

    python bench/distributed.py --data-from ../shared/data/spotify_songs
    python bench/distributed.py --data-from DIR --device cuda       # on a GPU machine
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpus_file(data_from: str, cache: Path) -> str:
    """The product's own spotify-songs corpus file (`contextlm data get`), built from DIR."""
    from contextlm.data.datasets import get_dataset
    return str(get_dataset("spotify-songs", Path(data_from), cache, progress=False))


def cpu_flags(args) -> list[str]:
    return ["--features", "energy", "--split-col", "split", "--emb-sz", str(args.emb_sz), "--n-hid", str(args.n_hid),
            "--n-layers", "2", "--bs", "64", "--bptt", "40", "--epochs", str(args.epochs), "--seed", "0",
            "--no-checkpoint", "--device", "cpu"]


def train_tokens(path: str, args) -> int:
    from contextlm.lm.settings import LMSettings
    from contextlm.lm.train import load_lm_corpus, lm_dls
    s = LMSettings(features=["energy"], split_col="split", bs=64, bptt=40)
    dls = lm_dls(load_lm_corpus(path, s, verbose=False), s)
    return dls.train.n_batches * dls.train.bs * dls.train.seq_len * args.epochs


def cpu_run(path: str, args, work: Path, n: int, tokens: int) -> dict:
    """One `train lm` command with `n` processes, timed from start to exit."""
    cmd = [sys.executable, "-m", "contextlm"] if n == 1 else [
        sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", str(n), "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "contextlm"]
    argv = [*cmd, "train", "lm", "--data", path, "--out", str(work / f"lm{n}"), "--overwrite",
            "--runs-dir", str(work / "reg"), *cpu_flags(args)]
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // n))}
    t = time.perf_counter()
    subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    print(f"  {n} process(es): {wall:.1f} s, {tokens / wall:,.0f} tokens/s", flush=True)
    return {"processes": n, "wall_s": wall, "tokens_per_s": tokens / wall, "tokens": tokens}


def cpu_runs(path: str, args, work: Path) -> list[dict]:
    """`--repeats` pairs, the order alternating (1 2, 2 1, ...), so a load that comes and goes on
    a shared machine falls on both sides; the figure is the median of the paired ratios."""
    tokens = train_tokens(path, args)
    out = []
    for r in range(args.repeats):
        for n in ((1, 2) if r % 2 == 0 else (2, 1)):
            out.append(cpu_run(path, args, work, n, tokens))
    return out


def gpu_runs(path: str, args) -> list[dict]:
    import torch
    from contextlm.distributed import RuntimeSettings
    from contextlm.distributed.runtime import start_runtime
    from contextlm.lm.settings import LMSettings
    from contextlm.lm.train import load_lm_corpus, lm_dls, train_lm
    s = LMSettings(features=["energy"], split_col="split", epochs=1, bs=64, bptt=70, seed=0)   # default AWD-LSTM size
    corpus = load_lm_corpus(path, s, verbose=False)
    out = []
    for precision in ("fp32", "bf16"):
        rt = start_runtime(RuntimeSettings(device="cuda", precision=precision))
        dls = lm_dls(corpus, s)
        tokens = dls.train.n_batches * s.bs * s.bptt
        for conditioned in (True, False):
            torch.cuda.synchronize()
            t = time.perf_counter()
            train_lm(corpus, s, use_features=conditioned, dls=dls, progress=False, cbs=rt.callbacks())
            torch.cuda.synchronize()
            wall = time.perf_counter() - t
            name = "contextlm (energy)" if conditioned else "fastai AWD_LSTM"
            out.append({"model": name, "precision": precision, "tokens_per_s": tokens / wall})
            print(f"  {name} {precision}: {tokens / wall:,.0f} tokens/s", flush=True)
    return out


def markdown(args, cpu: list[dict], gpu: list[dict] | None) -> str:
    import statistics
    rows = "\n".join(f"| {r['processes']} | {r['wall_s']:.1f} | {r['tokens_per_s']:,.0f} |" for r in cpu)
    by_n = {n: [r["tokens_per_s"] for r in cpu if r["processes"] == n] for n in (1, 2)}
    ratios = [two / one for one, two in zip(by_n[1], by_n[2])]
    speed = statistics.median(ratios)
    text = (f"`contextlm train lm` on spotify-songs titles (energy; AWD-LSTM {args.emb_sz}/{args.n_hid}/2, bs 64, "
            f"bptt 40, {args.epochs} epoch(s), {cpu[0]['tokens']:,} training tokens), 1 process vs "
            f"`accelerate launch --cpu --num_processes 2`, same global batch, {args.repeats} pairs in one run, "
            f"the order alternating. Wall seconds of the whole command (startup and data preparation "
            f"included).\n\n"
            f"| processes | wall s | tokens/s |\n|---|---|---|\n{rows}\n\n"
            f"2 processes: {speed:.2f}x the tokens/s of 1 (median of the paired ratios "
            f"{', '.join(f'{x:.2f}' for x in ratios)}) on this machine's CPU cores (each process gets half the "
            f"threads; two processes on two shared cores mostly trade intra-op threads for processes).\n")
    if gpu:
        g = "\n".join(f"| {r['model']} | {r['precision']} | {r['tokens_per_s']:,.0f} |" for r in gpu)
        text += f"\nGPU, default AWD-LSTM size, one process, fit only:\n\n| model | precision | tokens/s |\n|---|---|---|\n{g}\n"
    else:
        text += ("\nGPU part (`--device cuda`: default AWD-LSTM size, ours vs fastai's `AWD_LSTM`, fp32 vs bf16): "
                 "implemented, not run here (no GPU in this session).\n")
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-from", required=True, help="folder holding spotify_songs.csv")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="cuda: also the GPU part")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--emb-sz", type=int, default=100)
    ap.add_argument("--n-hid", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3, help="pairs of runs (1 and 2 processes), order alternating")
    ap.add_argument("--no-report", action="store_true", help="print only; BENCHMARKS.md untouched")
    args = ap.parse_args()
    from bench._report import load_text, machine, write_section
    before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        path = corpus_file(args.data_from, Path(tmp) / "cache")
        print("CPU, 1 vs 2 processes:", flush=True)
        cpu = cpu_runs(path, args, Path(tmp))
        gpu = gpu_runs(path, args) if args.device == "cuda" else None
    text = markdown(args, cpu, gpu) + f"\n{machine()}; {load_text(before)}.\n"
    print(text)
    if not args.no_report:
        print(f"wrote {write_section('distributed', text)}")


if __name__ == "__main__":
    main()
