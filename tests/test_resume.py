"""Checkpoints and resume (issue 14, item 1): a training killed with SIGKILL in a real
subprocess and rerun with --resume ends with the same metrics as an uninterrupted run.

Tolerance: 1e-6 (absolute, on losses, perplexities and every history value). Measured: 0.0,
the resumed runs are bit-identical (same machine, one thread, same seed), for a checkpoint at
an epoch end and for one inside an epoch (`--save-every`).
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from contextlm.cli import main

torch.set_num_threads(1)
TOL = 1e-6
LM = ["lm", "--features", "energy", "--emb-sz", "16", "--n-hid", "32", "--n-layers", "1", "--epochs", "3",
      "--bs", "8", "--bptt", "20", "--min-freq", "1", "--lr", "1e-2", "--save-every", "5"]
VAE = ["vae", "--sentences", "--features", "energy", "--epochs", "3", "--bs", "16", "--latent-sz", "4", "--emb-sz", "16",
       "--enc-hidden", "32", "--dec-hidden", "32", "--tf-end", "0.5", "--save-every", "5"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    from contextlm.data.synthetic import synthetic_reviews
    tmp = tmp_path_factory.mktemp("resume")
    synthetic_reviews(200, seed=1).to_csv(tmp / "r.csv", index=False)
    return tmp


def _env(work: Path) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CONTEXTLM_RUNS": str(work / "registry"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _cmd(work: Path, args: list[str], out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "contextlm", "train", args[0], "--data", str(work / "r.csv"), *args[1:],
            "--out", str(out), *extra]


def _run(work: Path, cmd: list[str]) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(work), cwd=work, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def _kill_after_first_checkpoint(work: Path, cmd: list[str], ckpt: Path) -> None:
    with open(work / "killed.log", "w") as log:
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(work), cwd=work)
        deadline = time.time() + 600
        while not (ckpt / "checkpoint.pth").exists():
            assert p.poll() is None, f"the run ended before its first checkpoint: {(work / 'killed.log').read_text()[-2000:]}"
            assert time.time() < deadline
            time.sleep(0.01)
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert p.returncode == -signal.SIGKILL


def _max_diff(a: pd.DataFrame, b: pd.DataFrame) -> float:
    assert list(a.columns) == list(b.columns) and len(a) == len(b)
    num = a.select_dtypes("number").columns
    return float((a[num] - b[num]).abs().max().max())


def test_lm_killed_and_resumed_matches_an_uninterrupted_run(work, capsys):
    full, out = work / "lm-full", work / "lm"
    _run(work, _cmd(work, LM, full))
    ckpt = work / "lm.ckpt"
    _kill_after_first_checkpoint(work, _cmd(work, LM, out), ckpt)
    assert not out.exists() and (ckpt / "checkpoint.pth").is_file()   # no final folder, only checkpoints

    # refused, each with one line, and nothing changes
    assert main(["train", *LM[:1], "--data", str(work / "r.csv"), *LM[1:], "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds the checkpoint of an unfinished run" in err and "--resume" in err
    other = [*LM[:-4], "--lr", "2e-2", *LM[-2:]]
    assert main(["train", *other[:1], "--data", str(work / "r.csv"), *other[1:], "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "other settings" in err and "lr: 0.01 -> 0.02" in err, err
    assert main(["train", "vae", "--data", str(work / "r.csv"), "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checkpoint of `train lm`, not `train vae`" in err, err
    assert not out.exists() and (ckpt / "checkpoint.pth").is_file()

    r = _run(work, _cmd(work, LM, out, "--resume"))
    assert "resuming from" in r.stdout and "epochs done" in r.stdout
    assert out.is_dir() and not ckpt.exists()            # the finished run drops its checkpoints
    a = json.loads((full / "config.json").read_text())["extra"]["metrics"]
    b = json.loads((out / "config.json").read_text())["extra"]["metrics"]
    for split in ("valid", "test"):
        assert abs(a[split]["perplexity"] - b[split]["perplexity"]) <= TOL
        assert abs(a[split]["loss"] - b[split]["loss"]) <= TOL
    assert _max_diff(pd.read_csv(full / "history.csv"), pd.read_csv(out / "history.csv")) <= TOL
    wa, wb = torch.load(full / "model.pth", weights_only=True), torch.load(out / "model.pth", weights_only=True)
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) <= TOL

    # the registry holds both runs; the resumed one continued the killed one's entry
    from contextlm.experiments.registry_lookup import list_runs
    runs = list_runs(work / "registry", kind="lm")
    resumed = [i for i in runs if i["out"] == str(out.resolve())]
    assert len(resumed) == 1 and resumed[0]["status"] == "finished" and len(resumed[0]["resumed"]) == 1

    # --resume on a finished run keeps it and trains nothing
    assert main(["train", *LM[:1], "--data", str(work / "r.csv"), *LM[1:], "--out", str(out), "--resume"]) == 0
    assert "finished earlier with these settings; kept" in capsys.readouterr().out


def test_vae_killed_and_resumed_matches_an_uninterrupted_run(work):
    full, out = work / "vae-full", work / "vae"
    _run(work, _cmd(work, VAE, full))
    ckpt = work / "vae.ckpt"
    _kill_after_first_checkpoint(work, _cmd(work, VAE, out), ckpt)
    assert not out.exists() and (ckpt / "checkpoint.pth").is_file()
    r = _run(work, _cmd(work, VAE, out, "--resume"))
    assert "resuming from" in r.stdout
    a, b = json.loads((full / "metrics.json").read_text()), json.loads((out / "metrics.json").read_text())
    assert len(a) == len(b) == 3
    for ea, eb in zip(a, b):
        assert ea.keys() == eb.keys() and all(abs(ea[k] - eb[k]) <= TOL for k in ea)
    # per-batch recon / KL / beta (VAEHistory) continue exactly too
    assert _max_diff(pd.read_csv(full / "history.csv"), pd.read_csv(out / "history.csv")) <= TOL


def test_tense_cvae_resumes_inside_an_epoch(tmp_path):
    """Library level: an exception inside epoch 2 stands in for the kill; every checkpoint is
    one batch apart (`save_every=1`), so the resume starts mid-epoch."""
    from fastai.callback.core import Callback
    from contextlm.experiments.checkpoints import Checkpoints
    from contextlm.tense.data import read_test_pairs, read_verb_lines
    from contextlm.tense.model import train_tense_cvae
    from contextlm.tense.settings import TrainSettings
    fixtures = Path(__file__).parent / "fixtures"
    lines, pairs = read_verb_lines(fixtures / "verbs.txt"), read_test_pairs(fixtures / "verbs_pairs.txt")
    s = TrainSettings(epochs=3, bs=16, tf_end=0.5, model=dict(emb_sz=8, enc_hidden=16, dec_hidden=16, latent_sz=4))

    class Stop(Callback):
        order = 100

        def after_batch(self):
            if self.training and self.epoch == 1 and self.iter == 3:
                raise KeyboardInterrupt

    def train(**kw):
        return train_tense_cvae(lines, pairs, s, progress=False, **kw)

    full = train(checkpoint=Checkpoints(tmp_path / "a.ckpt", "cvae-tense", {"settings": s.to_dict()}, save_every=1))
    ckpt = Checkpoints(tmp_path / "b.ckpt", "cvae-tense", {"settings": s.to_dict()}, save_every=1)
    with pytest.raises(KeyboardInterrupt):
        train(checkpoint=ckpt, cbs=[Stop()])
    resume = Checkpoints(tmp_path / "b.ckpt", "cvae-tense", {"settings": s.to_dict()}, save_every=1, resume=True)
    resumed = train(checkpoint=resume)
    assert resume.position["epoch"] == 1 and 0 < resume.position["iter"] < resume.position["n_iter"]
    assert _max_diff(full.history(), resumed.history()) <= TOL
    sa, sb = full.model.state_dict(), resumed.model.state_dict()
    assert max(float((sa[k] - sb[k]).abs().max()) for k in sa) <= TOL


def test_a_damaged_or_foreign_checkpoint_is_one_line(tmp_path):
    from contextlm.experiments.checkpoint_file import CheckpointError
    from contextlm.experiments.checkpoints import Checkpoints
    folder = tmp_path / "x.ckpt"
    folder.mkdir()
    (folder / "checkpoint.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="damaged checkpoint") as e:
        Checkpoints(folder, "lm", resume=True).open()
    assert "\n" not in str(e.value)
    (folder / "checkpoint.pth").unlink()
    (folder / ".lock").write_text(f"{os.getppid()}\n")          # a live process holds it
    with pytest.raises(CheckpointError, match=f"another run \\(pid {os.getppid()}\\) is training"):
        Checkpoints(folder, "lm").open()
    (folder / ".lock").write_text("999999999\n")                  # its process is gone: taken over
    Checkpoints(folder, "lm").open().close()
    assert not (folder / ".lock").exists()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="not a checkpoint folder"):
        Checkpoints(folder, "lm").open()
