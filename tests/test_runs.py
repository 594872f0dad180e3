"""The run registry (issue 14, item 3): every training records itself; `runs list` and
`runs compare` on three tiny runs; a registry that cannot be written never stops a training."""
import hashlib
import json

import pandas as pd
import pytest
import torch

from contextlm.cli import main
from contextlm.experiments import registry, registry_lookup

torch.set_num_threads(1)
LM = ["--features", "energy", "--emb-sz", "16", "--n-hid", "32", "--n-layers", "1", "--epochs", "2", "--bs", "8",
      "--bptt", "20", "--min-freq", "1"]
VAE = ["--sentences", "--features", "energy", "--epochs", "2", "--bs", "16", "--latent-sz", "4", "--emb-sz", "16",
       "--enc-hidden", "16", "--dec-hidden", "16"]


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    """Two LMs (learning rates 1e-2 and 2e-2) and a sentence VAE, in a registry of their own."""
    from contextlm.data.synthetic import synthetic_reviews
    tmp = tmp_path_factory.mktemp("registry")
    data = tmp / "reviews.csv"
    synthetic_reviews(120, seed=2).to_csv(data, index=False)
    reg = tmp / "registry"
    for name, lr in (("lm-a", "1e-2"), ("lm-b", "2e-2")):
        assert main(["train", "lm", "--data", str(data), *LM, "--lr", lr, "--out", str(tmp / name),
                     "--runs-dir", str(reg)]) == 0
    assert main(["train", "vae", "--data", str(data), *VAE, "--out", str(tmp / "vae"), "--runs-dir", str(reg)]) == 0
    return tmp, data, reg


def test_every_training_records_its_run(three_runs):
    tmp, data, reg = three_runs
    runs = registry_lookup.list_runs(reg)
    assert [i["kind"] for i in runs] == ["vae", "lm", "lm"]          # newest first
    lm = runs[1]
    folder = reg / lm["id"]
    assert lm["status"] == "finished" and lm["out"] == str((tmp / "lm-b").resolve())
    assert lm["settings"]["lr"] == 0.02 and json.loads((folder / "settings.json").read_text())["lr"] == 0.02
    assert lm["command"]["args"]["lr"] == 0.02 and lm["command"]["args"]["out"] == str(tmp / "lm-b")
    assert lm["code"]["contextlm"] and "git_commit" in lm["code"]
    assert lm["data"] == [{"path": str(data.resolve()), "bytes": data.stat().st_size,
                           "sha256": hashlib.sha256(data.read_bytes()).hexdigest()}]
    assert lm["metrics"]["valid"]["perplexity"] > 1 and lm["headline"]["name"] == "valid perplexity"
    history = pd.read_csv(folder / "history.csv")
    assert list(history["epoch"]) == [0, 1] and {"train_loss", "valid_loss", "perplexity"} <= set(history.columns)
    assert "kl" in pd.read_csv(reg / runs[0]["id"] / "history.csv").columns
    assert not (tmp / "lm-b.ckpt").exists()                            # finished runs keep no checkpoints


def test_runs_list_is_a_table_newest_first_with_filters(three_runs, capsys):
    _, _, reg = three_runs
    ids = [i["id"] for i in registry_lookup.list_runs(reg)]
    assert main(["runs", "list", "--runs-dir", str(reg)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "KIND", "STATUS"] and [ln.split()[0] for ln in lines[1:]] == ids
    assert all("finished" in ln for ln in lines[1:]) and "valid perplexity" in lines[2] and "valid neg_elbo" in lines[1]
    assert main(["runs", "list", "--runs-dir", str(reg), "--kind", "lm"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:]] == ids[1:]
    assert main(["runs", "list", "--runs-dir", str(reg), "--grep", "0.02"]) == 0
    assert [ln.split()[0] for ln in capsys.readouterr().out.splitlines()[1:]] == [ids[1]]
    assert main(["runs", "list", "--runs-dir", str(reg), "--limit", "1"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "... 2 older runs (--limit)"
    assert main(["runs", "list", "--runs-dir", str(reg), "--grep", "no-such-thing"]) == 0
    assert capsys.readouterr().out.strip() == f"no matching runs in {reg}"


def test_runs_compare_puts_metrics_side_by_side_and_curves_in_one_png(three_runs, capsys, tmp_path):
    _, _, reg = three_runs
    ids = [i["id"] for i in registry_lookup.list_runs(reg)]
    short = [i.rsplit("-", 1)[-1] for i in ids]                          # the last 4 hex digits name a run
    assert main(["runs", "compare", *short, "--runs-dir", str(reg)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["metric", *ids]
    assert "valid_perplexity" in out and "valid_neg_elbo" in out and "valid_kl" in out
    lr_row = next(ln for ln in out.splitlines() if ln.startswith("lr "))
    assert lr_row.split()[1:] == ["0.002", "0.02", "0.01"]              # vae, lm-b, lm-a: only settings that differ
    png = reg / f"compare-{'-'.join(short)}.png"
    assert f"wrote loss curves and KL: {png}" in out and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = tmp_path / "two.png"
    assert main(["runs", "compare", ids[1], ids[2], "--runs-dir", str(reg), "--out", str(target)]) == 0
    assert target.is_file() and "KL" not in capsys.readouterr().out    # two LMs: no KL panel
    for argv, message in ((["nope"], "no run 'nope'"), ([short[0], "--out", str(tmp_path / "x.txt")], "cannot write '.txt'"),
                          ([short[1], ids[1]], "named twice"), ([short[0], "--out", str(target)], "exists")):
        assert main(["runs", "compare", *argv, "--runs-dir", str(reg)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err


def test_an_unwritable_registry_warns_once_and_training_goes_on(three_runs, tmp_path, capsys):
    _, data, _ = three_runs
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = tmp_path / "lm"
    assert main(["train", "lm", "--data", str(data), *LM, "--epochs", "1", "--out", str(out),
                 "--runs-dir", str(blocker / "runs")]) == 0
    assert (out / "model.pth").is_file()
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("contextlm: warning: run registry") and "not recorded" in err[0]


def test_code_version_without_git(monkeypatch):
    monkeypatch.setenv("PATH", "")                                       # no git to run
    v = registry.code_version()
    assert v["git_commit"] is None and v["contextlm"]
