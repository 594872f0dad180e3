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


# -- label levels (a model conditioned on genre), guidance, and what is refused up front ----
@pytest.fixture(scope="module")
def genre_csv(tmp_path_factory):
    """400 synthetic reviews with a genre that follows energy (folk < 0.35 < pop < 0.65 < rock),
    so a classifier can read the genre back from the words."""
    from contextlm.data.synthetic import synthetic_reviews
    df = synthetic_reviews(400, seed=2)
    df["genre"] = pd.cut(df["energy"], [-1, 0.35, 0.65, 2], labels=["folk", "pop", "rock"]).astype(str)
    path = tmp_path_factory.mktemp("genre") / "genre.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def genre_lm_dir(tmp_path_factory, genre_csv):
    """A tiny energy + genre model with context dropout (so guidance has a trained null context)."""
    from contextlm.lm.settings import LMSettings
    from contextlm.lm.train import load_lm_corpus, save_lm_run, train_lm
    s = LMSettings(features=["energy"], labels=["genre"], emb_sz=8, n_hid=8, n_layers=1, epochs=1, bs=64, bptt=30,
                   min_freq=1, context_dropout=0.2)
    run = train_lm(load_lm_corpus(genre_csv, s, verbose=False), s, progress=False)
    return save_lm_run(run, tmp_path_factory.mktemp("models") / "genre_lm")


def test_label_levels_give_one_cloud_each_in_distinct_colours(genre_lm_dir, tmp_path, capsys):
    out = tmp_path / "genre"
    code, stdout, err = run(capsys, "--model", genre_lm_dir, "--label-col", "genre", "--levels", "rock", "folk", "pop",
                            "--feature", "energy=0.5", "--out", out, *SMALL)
    assert code == 0, err
    for slug in ["genre-rock", "genre-folk", "genre-pop"]:
        with Image.open(out / f"cloud_{slug}.png") as img:
            assert img.size == (200, 100)
        assert (out / f"samples_{slug}.txt").read_text().strip()
    levels = pd.read_csv(out / "levels.csv")
    assert levels["level"].tolist() == ["genre=rock", "genre=folk", "genre=pop"]  # the order asked for
    assert levels["value"].tolist() == ["rock", "folk", "pop"] and (levels["n_words"] >= 200).all()
    assert levels["color"].nunique() == 3 and "#6a1b9a" not in set(levels["color"])  # not the low-high ramp
    # scored by a TF-IDF + logistic classifier fit on the training corpus, not the ridge regressor
    assert levels["accuracy"].between(0, 1).all() and levels["mean_pred"].isna().all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["categorical"] and summary["auc_lowest_vs_highest"] is None and 0 <= summary["accuracy"] <= 1
    assert summary["fixed_features"] == {"energy": 0.5} and summary["scored_by"].startswith("classifier")
    assert set(pd.read_csv(out / "words.csv")["value"]) == {"rock", "folk", "pop"}
    assert "fit text->genre classifier" in stdout and "read as rock:" in stdout and "AUC" not in stdout


@pytest.mark.parametrize("argv, message", [
    (["--label-col", "genre", "--levels", "rock", "jazz"],
     "genre: label 'jazz': unknown; known labels: folk, pop, rock"),
    (["--label-col", "mood", "--levels", "sad", "happy"], "unknown label column 'mood' (this model knows: genre)"),
    (["--energy", "0.2", "0.8", "--label", "genre=metal"], "label 'metal': unknown; known labels: folk, pop, rock"),
    (["--label-col", "genre", "--levels", "rock", "pop", "--label", "genre=pop"], "genre is the label being varied"),
    (["--label-col", "genre", "--levels", "rock", "pop", "--energy", "0", "1"], "both choose what to vary"),
    (["--label-col", "genre"], "--label-col genre needs --levels"),
    (["--feature", "energy", "--levels", "low", "high"], "argument --levels: 'low' is not a number"),
    (["--energy", "0.2", "0.8", "--train-corpus", "no_such_corpus.csv"],
     "--train-corpus no_such_corpus.csv: no such file"),
])
def test_label_requests_are_refused_before_sampling(genre_lm_dir, tmp_path, capsys, argv, message):
    code, out, err = run(capsys, "--model", genre_lm_dir, *argv, "--out", tmp_path / "x", *SMALL)
    assert code == 2, err
    assert err.startswith("contextlm: error: ") and message in err and err.count("\n") == 1
    assert "sampled" not in out and not (tmp_path / "x").exists()


def test_guidance_is_recorded_and_one_is_the_plain_model(genre_lm_dir, tmp_path, capsys):
    common = ["--model", genre_lm_dir, "--energy", 0.2, 0.8, "--label", "genre=pop", "--seed", 3, "--no-regressor",
              *SMALL]
    outs = {w: tmp_path / f"w{w}" for w in ("none", "1", "2")}
    for w, out in outs.items():
        code, _, err = run(capsys, *common, *([] if w == "none" else ["--guidance", w]), "--out", out)
        assert code == 0, err
        assert "warning: guidance" not in err  # trained with context dropout
    summaries = {w: json.loads((out / "summary.json").read_text()) for w, out in outs.items()}
    assert [summaries[w]["guidance"] for w in outs] == [1.0, 1.0, 2.0]
    assert summaries["2"]["fixed_labels"] == {"genre": "pop"}
    for name in ["samples_energy-0.2.txt", "samples_energy-0.8.txt", "words.csv", "levels.csv", "clouds.png"]:
        assert (outs["none"] / name).read_bytes() == (outs["1"] / name).read_bytes(), name
    assert (outs["2"] / "samples_energy-0.8.txt").read_text() != (outs["1"] / "samples_energy-0.8.txt").read_text()


def test_out_naming_a_file_is_refused_and_left_alone(tiny_lm_dir, synthetic_csv, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me\n")
    for argv in (["--model", tiny_lm_dir, "--energy", 0, 1, *SMALL], ["--corpus", synthetic_csv, "--by", "energy"]):
        for out in (target, target / "clouds"):
            code, stdout, err = run(capsys, *argv, "--out", out)
            assert code == 2 and "is a file; name a folder" in err and err.count("\n") == 1
            assert "sampled" not in stdout and target.read_text() == "keep me\n"


def test_named_training_corpus_that_cannot_be_used_is_an_error(tiny_lm_dir, tmp_path, capsys):
    texts_only = tmp_path / "texts.csv"
    pd.DataFrame({"text": ["a quiet song", "a loud song"] * 5}).to_csv(texts_only, index=False)
    code, out, err = run(capsys, "--model", tiny_lm_dir, "--energy", 0.2, 0.8, "--train-corpus", texts_only,
                         "--out", tmp_path / "x", *SMALL)
    assert code == 2 and "no column 'energy'" in err and err.count("\n") == 1
    assert "sampled" not in out and not (tmp_path / "x").exists()


def test_recorded_training_corpus_gone_only_warns(tiny_lm_dir, tmp_path):
    from contextlm.analysis.pipeline import model_wordcloud
    from contextlm.lm.learner import load_lm
    lm = load_lm(tiny_lm_dir)
    lm.train_data = {**lm.train_data, "path": str(tmp_path / "moved_away.csv")}
    said = []
    result = model_wordcloud(lm, "energy", [0.2, 0.8], tmp_path / "out", n_words=50, batch_size=20, max_len=20,
                             log=said.append, options=None)
    assert any("warning: no text->energy regressor" in s and "moved_away.csv not found" in s for s in said)
    assert result.comparison.scores is None and (tmp_path / "out" / "clouds.png").exists()


def test_corpus_split_by_a_label_column(genre_csv, tmp_path, capsys):
    out = tmp_path / "by-genre"
    code, stdout, err = run(capsys, "--corpus", genre_csv, "--by", "genre", "--out", out, "--width", 200,
                            "--height", 100)
    assert code == 0, err
    levels = pd.read_csv(out / "levels.csv")
    corpus = pd.read_csv(genre_csv)
    counts = corpus["genre"].value_counts()
    assert levels["level"].tolist() == [f"genre={g}" for g in counts.index]  # most common first
    assert levels["n_docs"].tolist() == counts.tolist() and levels["color"].nunique() == 3
    assert (levels["accuracy"] > 0.6).all()  # the words follow energy, so genre: read back out of fold
    assert json.loads((out / "summary.json").read_text())["categorical"]
    assert "classifier (TF-IDF + logistic regression, 5-fold out-of-fold)" in stdout
    code, stdout, err = run(capsys, "--corpus", genre_csv, "--by", "genre", "--levels", "rock", "folk",
                            "--no-regressor", "--out", tmp_path / "two")
    assert code == 0, err
    assert pd.read_csv(tmp_path / "two" / "levels.csv")["level"].tolist() == ["genre=rock", "genre=folk"]
    assert "have another genre: left out" in stdout
    for argv, message in [(["--by", "genre", "--bins", "3"], "genre holds labels: its values split the texts"),
                          (["--by", "energy", "--levels", "rock"], "--levels goes with a label column"),
                          (["--by", "genre", "--levels", "jazz", "rock"], "no row has the value 'jazz'"),
                          (["--by", "artist"], "too many clouds to compare; choose some with --levels")]:
        code, _, err = run(capsys, "--corpus", genre_csv, *argv, "--out", tmp_path / "bad")
        assert code == 2 and message in err and err.count("\n") == 1, (argv, err)
