"""Data-parallel training (contextlm/distributed): two CPU processes on gloo, started with
`torch.multiprocessing` and the launcher's environment (RANK, WORLD_SIZE, MASTER_ADDR/PORT:
what `accelerate launch` and `torchrun` set), then the same `contextlm train ...` command line.

Equivalence: with no dropout in effect (`--drop-mult 1e-12`: every mask keeps everything, and
`--drop-mult 0` trips fastai's WeightDropout, whose `F.dropout(p=0)` hands back the raw Parameter
and breaks its next reset; the VAE's dropouts are 0 by default) and the
same global `--bs`, one epoch on 2 ranks must give the weights of one process. Each rank's
loss is the mean over an equal share of the batch, so DDP's gradient mean is the global mean;
only float summation order differs. Tolerance: max |w_2proc - w_1proc| <= 1e-4 on weights of
size ~0.1-1 after a handful of Adam steps (float32 reordering is ~1e-7 per step; Adam's
normalisation can amplify a tiny gradient difference on near-zero-gradient entries up to the
step size, lr 1e-3, so 1e-4 leaves room without hiding a real sharding error, which moves
weights by ~lr per step on every entry).
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from contextlm.cli import main

LM = ["--features", "energy", "--emb-sz", "16", "--n-hid", "24", "--n-layers", "1", "--bs", "8", "--bptt", "12",
      "--epochs", "1", "--lr", "1e-3", "--drop-mult", "1e-12", "--min-freq", "2", "--seed", "0", "--no-checkpoint"]
VAE = ["--sentences", "--features", "energy", "--emb-sz", "16", "--enc-hidden", "24", "--dec-hidden", "24", "--latent-sz", "4", "--bs", "16",
       "--epochs", "1", "--lr", "1e-3", "--seed", "0", "--no-checkpoint", "--max-len", "30"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from contextlm.data.synthetic import synthetic_reviews
    tmp = tmp_path_factory.mktemp("dist")
    synthetic_reviews(80, seed=3).to_csv(tmp / "r.csv", index=False)
    return tmp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, argv: list[str], cwd: str) -> None:
    """One launched process: the launcher's environment, then the command line."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), CONTEXTLM_RUNS=str(Path(cwd) / "registry"))
    os.chdir(cwd)
    torch.set_num_threads(1)
    code = main(argv)
    if code:
        raise SystemExit(code)


def launch(argv: list[str], cwd: Path, world: int = 2) -> None:
    torch.multiprocessing.spawn(_rank_main, args=(world, _free_port(), argv, str(cwd)), nprocs=world, join=True)


def single(argv: list[str], cwd: Path) -> None:
    torch.set_num_threads(1)
    old = os.environ.get("CONTEXTLM_RUNS")
    os.environ["CONTEXTLM_RUNS"] = str(cwd / "registry")
    try:
        assert main(argv) == 0
    finally:
        os.environ.pop("CONTEXTLM_RUNS") if old is None else os.environ.update(CONTEXTLM_RUNS=old)


def _max_diff(a: Path, b: Path) -> float:
    wa = torch.load(a / "model.pth", weights_only=True)
    wb = torch.load(b / "model.pth", weights_only=True)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


def _moved(a: Path, init: dict) -> float:
    w = torch.load(a / "model.pth", weights_only=True)
    return max(float((w[k].float() - init[k].float()).abs().max()) for k in w if k in init)


# -- the LM shard, in one process ------------------------------------------------------------------
def test_lm_shards_are_disjoint_rows_with_their_documents_features():
    from contextlm.lm.data import ContextLanguageModelLoader
    rng = np.random.default_rng(0)
    docs = [torch.arange(1000 * d, 1000 * d + int(n)) for d, n in enumerate(rng.integers(3, 30, 60))]
    feats = np.arange(60, dtype=np.float32)[:, None]          # a document's feature is its id
    whole = ContextLanguageModelLoader(docs, feats, bs=8, seq_len=7, shuffle=False)
    ranks = [ContextLanguageModelLoader(docs, feats, bs=8, seq_len=7, shuffle=False).shard(r, 2) for r in range(2)]
    seen = [set(), set()]
    for b, *parts in zip(whole, *ranks):
        x, c, y = b
        for r, (xr, cr, yr) in enumerate(parts):
            assert torch.equal(xr, x[4 * r:4 * (r + 1)]) and torch.equal(yr, y[4 * r:4 * (r + 1)])
            assert torch.equal(cr[..., 0], (xr // 1000).float())    # every token: its own document
            seen[r] |= set(xr.flatten().tolist())
    assert not seen[0] & seen[1]                                     # disjoint token positions
    docs_of = [{t // 1000 for t in s} for s in seen]
    assert len(docs_of[0] & docs_of[1]) <= 1                         # only the one cut at the shard border
    assert len(ranks[0]) == len(whole) and ranks[0].bs == 4


def test_batch_shard_splits_rows_and_pads_the_last_batch():
    from contextlm.distributed.runtime import shard_rows
    assert shard_rows(8, 0, 2) == [0, 1, 2, 3] and shard_rows(8, 1, 2) == [4, 5, 6, 7]
    assert shard_rows(5, 1, 2) == [3, 4, 0] and shard_rows(1, 1, 2) == [0]


# -- two processes ---------------------------------------------------------------------------------
def test_two_process_lm_equals_one_process_and_one_folder(work):
    data = str(work / "r.csv")
    launch(["train", "lm", "--data", data, "--out", "lm2", *LM], work)
    single(["train", "lm", "--data", data, "--out", str(work / "lm1"), *LM], work)
    assert (work / "lm2" / "model.pth").is_file() and (work / "lm2" / "history.csv").is_file()
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("lm")) == ["lm1", "lm2"]
    assert _max_diff(work / "lm1", work / "lm2") <= 1e-4
    runs = [p for p in (work / "registry").iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 2                              # one record per command, by rank 0


def test_two_process_vae_stack_equals_one_process(work):
    """The sentence-VAE stack without z (`--no-use-latent`: its LSTM-LM twin) is deterministic, so
    the row shards must give the single-process weights. (The VAE proper draws z's noise per rank:
    other numbers than one process draws for the whole batch, so its weights can only match in
    distribution; the twin runs the same loaders, DDP wrapper, loss and callbacks.)"""
    data = str(work / "r.csv")
    launch(["train", "vae", "--data", data, "--out", "twin2", "--no-use-latent", *VAE], work)
    single(["train", "vae", "--data", data, "--out", str(work / "twin1"), "--no-use-latent", *VAE], work)
    assert _max_diff(work / "twin1", work / "twin2") <= 1e-4
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("twin")) == ["twin1", "twin2"]


def test_two_process_resume_from_rank0_checkpoint(work):
    """Rank 0 alone writes checkpoints; a relaunch with --resume loads them on every rank."""
    data = str(work / "r.csv")
    argv = ["train", "lm", "--data", data, *[a for a in LM if a != "--no-checkpoint"]]
    argv[argv.index("--epochs") + 1] = "2"
    launch([*argv, "--out", "lmr", "--keep-checkpoint"], work)
    ckpt = work / "lmr.ckpt"
    assert (ckpt / "checkpoint.pth").is_file() and not list(ckpt.glob(".*tmp*"))
    launch([*argv, "--out", "lmr", "--resume", "--overwrite", "--keep-checkpoint"], work)
    assert (work / "lmr" / "model.pth").is_file()


def test_device_and_precision_flags_refuse_what_the_machine_cannot_do(work, capsys):
    data = str(work / "r.csv")
    assert main(["train", "lm", "--data", data, "--out", str(work / "x"), "--precision", "fp16"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--precision fp16" in err
    if not torch.cuda.is_available():
        assert main(["train", "vae", "--data", data, "--out", str(work / "x"), "--device", "cuda"]) == 2
        assert "--device cuda" in capsys.readouterr().err
    assert main(["train", "cvae-tense", "--out", str(work / "x"), "--device", "tpu"]) == 2
    assert "--device" in capsys.readouterr().err
    assert not (work / "x").exists()
