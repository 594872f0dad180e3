"""`contextlm train vae / sample / interpolate / reconstruct` end to end, and the plots."""
import json

import numpy as np
import pandas as pd
import pytest
import torch

from contextlm.cli import main
from contextlm.errors import ContextLMError
from contextlm.vae.plots import plot_latent, plot_vae_history

torch.set_num_threads(1)

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book", "music makes me happy", "we danced all night"]
TINY = ["--emb-sz", "16", "--dec-hidden", "16", "--enc-hidden", "8", "--latent-sz", "4", "--epochs", "2", "--bs", "4"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vae_cli")
    data = tmp / "songs.csv"
    pd.DataFrame({"text": SENTS * 3, "energy": np.linspace(0, 1, 24),
                  "split": (["train"] * 6 + ["valid"] * 2) * 3}).to_csv(data, index=False)
    out = tmp / "vae"
    assert main(["train", "vae", "--data", str(data), "--split-col", "split", "--features", "energy",
                 "--tokenizer", "whitespace", "--iw-samples", "2", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_model_history_and_plots(trained):
    for name in ("model.pth", "config.json", "history.csv", "metrics.json", "training_curves.png", "latent.png"):
        assert (trained / name).stat().st_size > 0, name
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["kind"] == "sentence-vae" and cfg["condition"]["names"] == ["energy"]
    assert cfg["model"]["cond_sz"] == 1 and cfg["training"]["kl_annealing"]["schedule"] == "cyclical"
    assert cfg["model"]["enc_hidden"] == 8 and cfg["model"]["dec_hidden"] == 16  # --enc-hidden, --hidden
    epochs = json.loads((trained / "metrics.json").read_text())
    assert len(epochs) == 2 and {"recon", "kl", "iw_nll", "au", "mi"} <= set(epochs[0])
    assert (trained / "training_curves.png").read_bytes()[:4] == b"\x89PNG"


def test_unset_features_are_held_at_their_training_mean(trained, capsys):
    # the one rule of contextlm.conditioning, as in `generate`: no --feature samples at the training mean
    assert main(["sample", "--model", str(trained), "-n", "2", "--seed", "3"]) == 0
    at_default = capsys.readouterr().out
    mean = json.loads((trained / "config.json").read_text())["condition"]["stats"]["energy"]["mean"]
    assert main(["sample", "--model", str(trained), "-n", "2", "--seed", "3", "--feature", f"energy={mean!r}"]) == 0
    assert capsys.readouterr().out == at_default and len(at_default.splitlines()) == 2


def test_sample_interpolate_reconstruct(trained, tmp_path, capsys):
    assert main(["sample", "--model", str(trained), "-n", "3", "--feature", "energy=0.9",
                 "--out", str(tmp_path / "s.txt")]) == 0
    assert len((tmp_path / "s.txt").read_text().splitlines()) == 3
    assert main(["interpolate", SENTS[3], SENTS[4], "--model", str(trained), "--steps", "4",
                 "--feature", "energy=0.5", "--out", str(tmp_path / "h.csv")]) == 0
    assert pd.read_csv(tmp_path / "h.csv")["t"].tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert main(["reconstruct", SENTS[0], SENTS[1], "--model", str(trained), "--feature", "energy=0.2",
                 "--method", "beam", "--beam-size", "2", "--out", str(tmp_path / "r.csv")]) == 0
    assert pd.read_csv(tmp_path / "r.csv")["text"].tolist() == SENTS[:2]
    assert "->" in capsys.readouterr().out


@pytest.mark.parametrize("argv, msg", [
    (["sample", "--model", "{m}", "--feature", "tempo=1"], "unknown feature 'tempo'"),
    (["sample", "--model", "{m}", "--feature", "energy=nan"], "energy=nan: not a number a feature can take"),
    (["sample", "--model", "{m}", "--feature", "energy=2"], "energy=2 is impossible: energy lies in [0, 1]"),
    (["sample", "--model", "{tmp}/nowhere"], "no such model folder"),
    (["reconstruct", "--model", "{m}"], "no sentences"),
    (["train", "vae", "--out", "{tmp}/x"], "exactly one of --data FILE or --ptb DIR"),
    (["train", "vae", "--ptb", "{tmp}", "--out", "{tmp}/x"], "ptb.train.txt"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--kl-schedule", "zigzag", "--out", "{tmp}/x"],
     "kl_schedule='zigzag' (--kl-schedule): expected one of linear, cyclical, logistic, constant"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--config", "{tmp}/e0.json", "--out", "{tmp}/x"],
     "epochs=0 (--epochs): must be >= 1"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--config", "{tmp}/lr.json", "--out", "{tmp}/x"],
     "lr=nan (--lr): must be a finite"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--config", "{tmp}/typo.json", "--out", "{tmp}/x"],
     "unknown training setting(s) ['epoch']"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--config", "{tmp}", "--out", "{tmp}/x"], "(it is a folder)"),
    (["train", "vae", "--data", "{tmp}/d.csv", "--out", "{m}"], "exists; pass --overwrite"),
    (["interpolate", "", "", "--model", "{m}"], "empty sentence ''"),
    (["interpolate", "zzz qqq", SENTS[0], "--model", "{m}"], "sentence 'zzz qqq': none of its tokens"),
    (["reconstruct", "--model", "{m}", "--input", "{tmp}"], "is a folder; give a text file"),
    (["reconstruct", "--model", "{m}", "--input", "{tmp}/d.csv", "--out", "{tmp}/d.csv"], "is an input of this"),
    (["reconstruct", "--model", "{m}", "--to-label", "p", SENTS[0]], "conditioned on features"),
    (["sample", "--model", "{m}", "--out", "{tmp}/d.csv", "--overwrite"], "cannot write '.csv'"),
    (["sample", "--model", "{m}", "--out", "{tmp}/old.txt"], "old.txt exists; pass --overwrite"),
    (["sample", "--model", "{m}", "--out", "{tmp}"], "is a folder"),
])
def test_errors_are_one_line(trained, tmp_path, capsys, argv, msg):
    pd.DataFrame({"text": SENTS, "split": ["train"] * 6 + ["valid"] * 2}).to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "old.txt").write_text("kept\n")
    for name, text in (("e0", '{"epochs": 0}'), ("lr", '{"lr": NaN}'), ("typo", '{"epoch": 3}')):
        (tmp_path / f"{name}.json").write_text(text)
    argv = [a.format(m=trained, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1
    assert (tmp_path / "old.txt").read_text() == "kept\n" and (trained / "model.pth").exists()  # nothing lost


def test_help_ends_with_examples(capsys):
    for cmd in (["train", "vae"], ["sample"], ["interpolate"], ["reconstruct"]):
        with pytest.raises(SystemExit):
            main([*cmd, "--help"])
        assert "examples:\n  contextlm " in capsys.readouterr().out


def test_plots_validate_inputs(tmp_path):
    hist = pd.DataFrame({"iter": range(5), "recon": [5, 4, 3, 2, 1.0], "kl": [0, 1, 2, 2, 2.0], "beta": [0, .5, 1, 1, 1.0]})
    assert plot_vae_history(hist, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ContextLMError, match="lacks columns"):
        plot_vae_history(hist.drop(columns="beta"), tmp_path / "c.png")
    means = np.random.default_rng(0).normal(size=(20, 4))
    assert plot_latent(means, np.arange(20.0), tmp_path / "l.png", feature="energy").exists()
    with pytest.raises(ContextLMError, match="3 feature values for 20"):
        plot_latent(means, [1, 2, 3], tmp_path / "l.png")
