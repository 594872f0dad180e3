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
def _valid_figures(folder: Path) -> dict:
    import pandas as pd
    last = pd.read_csv(folder / "history.csv").iloc[-1]
    return {k: float(v) for k, v in last.items() if k not in ("epoch", "train_loss", "time")}


def test_two_process_lm_equals_one_process_and_one_folder(work):
    """Weights, and the validation figures: each rank scores its rows, the sums are reduced."""
    data = str(work / "r.csv")
    argv = ["train", "lm", "--data", data, *[a for a in LM if a != "--no-checkpoint"], "--keep-checkpoint"]
    launch([*argv, "--out", "lm2"], work)
    single(["train", "lm", "--data", data, "--out", str(work / "lm1"), *LM], work)
    assert (work / "lm2" / "model.pth").is_file() and (work / "lm2" / "history.csv").is_file()
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("lm")) == ["lm1", "lm2", "lm2.ckpt"]
    assert _max_diff(work / "lm1", work / "lm2") <= 1e-4
    one, two = _valid_figures(work / "lm1"), _valid_figures(work / "lm2")
    assert one.keys() == two.keys() and "valid_loss" in one
    for k in one:
        assert two[k] == pytest.approx(one[k], rel=1e-4), k
    runs = [p for p in (work / "registry").iterdir() if (p / "run.json").is_file()]
    assert len(runs) == 2                              # one record per command, by rank 0
    # rank 0 alone wrote the checkpoint; a relaunch with --resume loads it on every rank
    ckpt = work / "lm2.ckpt"
    assert (ckpt / "checkpoint.pth").is_file() and not list(ckpt.glob(".*tmp*"))
    launch([*argv, "--out", "lm2", "--resume", "--overwrite"], work)
    assert _max_diff(work / "lm1", work / "lm2") <= 1e-4


def test_two_process_vae_stack_equals_one_process(work):
    """The sentence-VAE stack without z (`--no-use-latent`: its LSTM-LM twin) is deterministic, so
    the row shards must give the single-process weights. (The VAE proper draws z's noise per rank:
    other numbers than one process draws for the whole batch, so its weights can only match in
    distribution; the twin runs the same loaders, DDP wrapper, loss and callbacks.)"""
    data = str(work / "r.csv")
    launch(["train", "vae", "--data", data, "--out", "twin2", "--no-use-latent", *VAE], work)
    single(["train", "vae", "--data", data, "--out", str(work / "twin1"), "--no-use-latent", *VAE], work)
    assert _max_diff(work / "twin1", work / "twin2") <= 1e-4
    import json
    import pandas as pd
    h1, h2 = (pd.read_csv(work / f / "history.csv") for f in ("twin1", "twin2"))
    # per batch: the global batch's terms (but the last, short batch: padded with repeated rows)
    assert len(h1) == len(h2) and np.allclose(h1["recon"][:-1], h2["recon"][:-1], rtol=1e-4)
    one, two = (json.loads((work / f / "metrics.json").read_text())[-1] for f in ("twin1", "twin2"))
    assert one.keys() == two.keys() and {"valid_loss", "recon", "au", "mi"} <= set(one)
    for k in one:                                      # batches round robin, sums reduced
        if k != "train_loss":                          # (smoothed over rank 0's rows)
            assert two[k] == pytest.approx(one[k], rel=1e-4, abs=1e-6), k
    assert sorted(p.name for p in work.iterdir() if p.name.startswith("twin")) == ["twin1", "twin2"]


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


# -- validation: shards and the reduction, in one process ----------------------------------------
class _TwoRanks:
    """A stand-in for the process group: the other rank holds the given values."""
    def __init__(self, other):
        self.other = other

    def sum(self, value):
        return value + self.other.pop(0)

    def gather(self, obj):
        return [obj, self.other.pop(0)]


def test_validation_shards_cover_every_batch_once():
    from contextlm.distributed.validation import ValidationShard
    batches = [torch.full((2,), i) for i in range(7)]
    parts = [list(ValidationShard(batches, r, 3)) for r in range(3)]
    assert sorted(int(b[0]) for p in parts for b in p) == list(range(7))
    assert [len(ValidationShard(batches, r, 3)) for r in range(3)] == [3, 2, 2]
    assert ValidationShard(batches).to_detach(torch.ones(2, requires_grad=True)).requires_grad is False


def test_reduce_metrics_sums_accumulators_and_refuses_unknown_state():
    from fastai.learner import AvgMetric
    from contextlm.distributed.validation import reduce_metrics
    from contextlm.errors import ContextLMError
    from contextlm.vae.callbacks import LatentEvaluation, _LatentMetric
    m = AvgMetric(lambda *a: 0)
    m.total, m.count = torch.tensor(6.0), 3
    ev = LatentEvaluation()
    ev.iw, ev.n_sent, ev.n_tokens, ev.mi_sum, ev.mus = 1.0, 2, 10, 0.5, [torch.zeros(2, 4)]
    au, mi = _LatentMetric(ev, "au", LatentEvaluation.active_units), _LatentMetric(ev, "mi", lambda e: e.mi_sum)
    comm = _TwoRanks([torch.tensor(4.0), 2, 3.0, 1.5, 3, 20, [torch.ones(3, 4)]])
    reduce_metrics([m, au, mi], learn=None, comm=comm)           # the evaluation is reduced once
    assert float(m.value) == pytest.approx(2.0) and comm.other == []
    assert (ev.iw, ev.mi_sum, ev.n_sent, ev.n_tokens) == (4.0, 2.0, 5, 30) and len(torch.cat(ev.mus)) == 5

    class Opaque:
        name = "opaque"
    with pytest.raises(ContextLMError, match="'opaque' has no rule"):
        reduce_metrics([Opaque()], learn=None, comm=comm)
