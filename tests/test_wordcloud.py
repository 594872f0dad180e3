"""`contextlm wordcloud` end to end: on the tiny trained model (conftest's `tiny_lm_dir`)
and on real text (`--corpus`), plus the errors a user can run into."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from PIL import Image

from contextlm.cli import main

SMALL = ["--n-words", "200", "--batch-size", "40", "--max-len", "25", "--width", "200", "--height", "100",
         "--max-words", "40"]


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["wordcloud", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_seeded_model_run_writes_clouds_and_tables_and_reproduces(tiny_lm_dir, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    code, out, err = run(capsys, "--model", tiny_lm_dir, "--energy", 0, 1, "--seed", 7, "--out", a, *SMALL)
    assert code == 0, err
    # Rhodes' levels lie just outside what the model saw: sampled, with a one-line warning each
    assert err.count("contextlm: warning: energy=") == 2 and "outside the training range" in err
    for name in ["cloud_energy-0.png", "cloud_energy-1.png", "distinctive_energy-0.png", "distinctive_energy-1.png"]:
        with Image.open(a / name) as img:
            assert img.size == (200, 100)
    with Image.open(a / "clouds.png") as img:
        assert img.size[0] == 2 * 200 + 3 * 24 and img.size[1] > 2 * 100
    words = pd.read_csv(a / "words.csv")
    assert list(words.columns) == ["level", "value", "word", "count", "per_10k", "log_odds", "z"]
    assert set(words["level"]) == {"energy=0", "energy=1"} and set(words["value"]) == {0.0, 1.0}
    assert not set(words["word"]) & {"the", "and", "xxbos", "xxunk", "xxmaj"}
    levels = pd.read_csv(a / "levels.csv")
    assert (levels["n_words"] >= 200).all() and levels["mean_pred"].notna().all()  # scored by the regressor
    summary = json.loads((a / "summary.json").read_text())
    assert 0.0 <= summary["auc_lowest_vs_highest"] <= 1.0 and summary["seed"] == 7
    assert "top words (count)" in out and "distinctive" in out and "AUC energy=0 vs energy=1" in out
    assert f"wrote clouds side by side: {a / 'clouds.png'}" in out
    # same seed, same files
    code, _, _ = run(capsys, "--model", tiny_lm_dir, "--energy", 0, 1, "--seed", 7, "--out", b, *SMALL,
                     "--no-regressor")
    assert code == 0
    assert (a / "samples_energy-1.txt").read_text() == (b / "samples_energy-1.txt").read_text()
    pd.testing.assert_frame_equal(pd.read_csv(a / "words.csv"), pd.read_csv(b / "words.csv"))


def test_any_feature_more_levels_others_fixed(tiny_lm_dir, tmp_path, capsys):
    out = tmp_path / "valence"
    code, _, err = run(capsys, "--model", tiny_lm_dir, "--feature", "valence", "--levels", 0.8, 0.2, 0.5,
                       "--feature", "energy=0.9", "--no-regressor", "--out", out, *SMALL)
    assert code == 0, err
    levels = pd.read_csv(out / "levels.csv")
    assert levels["level"].tolist() == ["valence=0.2", "valence=0.5", "valence=0.8"]
    assert levels["color"].iloc[0] != levels["color"].iloc[-1]
    assert json.loads((out / "summary.json").read_text())["fixed_features"] == {"energy": 0.9}


@pytest.mark.parametrize("argv, message", [
    (["--energy", "0", "1.5"], "energy=1.5 is impossible: energy lies in [0, 1]"),
    (["--feature", "tempo", "--levels", "90", "150"], "unknown feature 'tempo' (this model knows: energy, valence)"),
    (["--energy", "0", "1", "--feature", "danceability=0.5"], "unknown feature 'danceability'"),
    (["--feature", "valence"], "--feature valence needs --levels"),
    (["--energy", "0.5"], "at least two different levels"),
    (["--energy", "0", "1", "--stopwords", "no_such_list.txt"], "--stopwords no_such_list.txt: no such file"),
])
def test_bad_requests_are_refused_in_one_line(tiny_lm_dir, tmp_path, capsys, argv, message):
    code, out, err = run(capsys, "--model", tiny_lm_dir, *argv, "--out", tmp_path / "x", *SMALL)
    assert code == 2
    assert err.startswith("contextlm: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x" / "clouds.png").exists()


def test_missing_model_folder(tmp_path, capsys):
    code, _, err = run(capsys, "--model", tmp_path / "nope", "--energy", 0, 1)
    assert code == 2 and "no such model folder" in err and err.count("\n") == 1


def test_corpus_split_by_energy_quantiles(synthetic_csv, tmp_path, capsys):
    out = tmp_path / "real"
    code, stdout, err = run(capsys, "--corpus", synthetic_csv, "--by", "energy", "--bins", 2, "--out", out,
                            "--width", 200, "--height", 100)
    assert code == 0, err
    levels = pd.read_csv(out / "levels.csv")
    assert len(levels) == 2 and levels["high"].iloc[0] == pytest.approx(levels["low"].iloc[1])
    assert abs(levels["n_docs"].iloc[0] - levels["n_docs"].iloc[1]) <= 1  # equal-count bins
    # the synthetic corpus ties words to energy: the bins' most distinctive words come from
    # low- and high-energy texts respectively, and the regressor tells the bins apart
    corpus = pd.read_csv(synthetic_csv)
    words = pd.read_csv(out / "words.csv")
    for label, sign in zip(levels["level"], (-1, 1)):
        for word in words[words["level"] == label].nlargest(5, "z")["word"]:
            has = corpus["text"].str.lower().str.contains(rf"\b{word}\b")
            assert sign * (corpus.loc[has, "energy"].mean() - corpus["energy"].median()) > 0.1, word
    assert json.loads((out / "summary.json").read_text())["auc_lowest_vs_highest"] > 0.8
    assert "5-fold out-of-fold" in stdout
    code, _, err = run(capsys, "--corpus", synthetic_csv, "--by", "loudness")
    assert code == 2 and "no column 'loudness'" in err
