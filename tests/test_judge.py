"""The benchmark's judge (`contextlm.analysis.judge`) and the scoring of bench/conditioning.py,
on corpora made up here."""
from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from contextlm.analysis.judge import (TextJudge, auc_standard_error, ceiling_accuracy, ceiling_auc, copy_rate,
                                      distinct_n, extreme_fifths, majority_share, sample_accuracy, sample_auc)
from contextlm.analysis.regressor import FeatureRegressor

FILLER = ("the night is young and we are running down that road tonight baby oh yeah my heart your love "
          "city lights summer rain dream forever again home girl boy sky").split()
GENRES = {"rock": "guitar", "rap": "rhymes", "latin": "corazon"}


def corpus(n: int = 500, per_album: int = 5, seed: int = 0, graded: bool = False) -> pd.DataFrame:
    """Titles of six random filler words; "fire" is in a title exactly when its energy is
    above 0.5 (`graded`: with probability energy), and each genre has its own word in half
    its titles. Albums of `per_album` tracks."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        energy = rng.random()
        genre = rng.choice(sorted(GENRES))
        fire = rng.random() < energy if graded else energy > 0.5
        words = rng.sample(FILLER, 6) + (["fire"] if fire else []) + (
            [GENRES[genre]] if rng.random() < 0.5 else [])
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "energy": energy, "valence": rng.random(), "genre": genre, "album_id": f"a{i // per_album}",
                     "artist": f"x{i // (2 * per_album)}", "split": ("train", "train", "train", "valid", "test")[
                         (i // per_album) % 5]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def df():
    return corpus()


def test_a_marking_word_gives_a_high_ceiling(df):
    assert ceiling_auc(df["text"], df["energy"], df["album_id"]) > 0.9


def test_shuffled_values_give_chance(df):
    """500 titles, a fifth each side: the AUC's standard error is about 0.04; 0.1 is 2.5 of them."""
    shuffled = np.random.default_rng(0).permutation(df["energy"].to_numpy())
    assert abs(ceiling_auc(df["text"], shuffled, df["album_id"]) - 0.5) < 0.1


def test_out_of_fold_never_trains_on_the_group_it_predicts(df, monkeypatch):
    seen = []

    class Spy(FeatureRegressor):
        def fit(self, texts, y):
            self.train_texts = set(texts)
            return super().fit(texts, y)

        def predict(self, texts):
            seen.append((self.train_texts, set(texts)))
            return super().predict(texts)

    album = dict(zip(df["text"], df["album_id"]))
    assert len(album) == len(df)  # every title unique, so a text names its album
    Spy().cross_val_predict(df["text"], df["energy"], folds=5, seed=0, groups=df["album_id"])
    assert len(seen) == 5
    for train, test in seen:
        assert not {album[t] for t in train} & {album[t] for t in test}
    assert set().union(*(test for _, test in seen)) == set(df["text"])


def test_grouping_removes_what_an_album_leaks():
    """Each album has its own word and its own energy: ungrouped folds read the album word,
    grouped folds cannot, so only the grouped ceiling is at chance."""
    rng = random.Random(1)
    texts, energy, albums = [], [], []
    for a in range(100):
        e = rng.random()
        for t in range(5):
            texts.append(f"{' '.join(rng.sample(FILLER, 6))} album{a}")
            energy.append(e + rng.gauss(0, 0.01))
            albums.append(a)
    judge = TextJudge()
    low, high = extreme_fifths(energy)
    leaky = judge.model.cross_val_predict(texts, energy, seed=0)
    grouped = judge.out_of_fold(texts, energy, albums)
    from contextlm.analysis.regressor import auc
    assert auc(leaky[low], leaky[high]) > 0.9
    assert abs(auc(grouped[low], grouped[high]) - 0.5) < 0.12


def test_sample_auc_and_accuracy_use_a_judge_fitted_on_training_texts(df):
    train, test = df[df["split"] == "train"], df[df["split"] == "test"]
    judge = TextJudge().fit(train["text"], train["energy"])
    low, high = test["text"][test["energy"] <= 0.5], test["text"][test["energy"] > 0.5]
    assert sample_auc(judge, low, high) > 0.95
    assert sample_auc(judge, high, low) < 0.05
    assert sample_auc(judge, [], high) is None
    genre = TextJudge(categorical=True).fit(train["text"], train["genre"])
    marked = {g: [f"{w} the night"] * 3 for g, w in GENRES.items()}
    assert sample_accuracy(genre, marked) == 1.0
    assert sample_accuracy(genre, {"rock": [f"{GENRES['rap']} the night"] * 3}) == 0.0


def test_genre_ceiling_beats_the_majority(df):
    acc = ceiling_accuracy(df["text"], df["genre"], df["album_id"])
    assert majority_share(df["genre"]) < 0.4 < 0.6 < acc  # half the titles carry their genre's word


def test_majority_share_and_extreme_fifths():
    assert majority_share(["a", "a", "b", "c"]) == 0.5
    low, high = extreme_fifths(np.arange(10.0))
    assert low.tolist() == [True, True] + [False] * 8 and high.tolist() == [False] * 8 + [True, True]


def test_auc_standard_error_shrinks_with_n():
    assert auc_standard_error(0.5, 100, 100) == pytest.approx(0.0409, abs=1e-3)  # sqrt(201 / 120000)
    assert auc_standard_error(0.7, 5000, 5000) < 0.01


def test_distinct_n_exact():
    texts = ["A b c", "a b d", "x"]
    assert distinct_n(texts, 2) == 3 / 4         # (a b) twice, (b c), (b d); "x" has no bigram
    assert distinct_n(texts, 1) == 5 / 7
    assert distinct_n(["don't stop, don't stop"], 2) == 2 / 3  # words as the judge reads them
    assert distinct_n(["one"], 2) == 0.0 and distinct_n([], 2) == 0.0


def test_copy_rate_exact():
    train = ["Hello world", "Something else"]
    samples = ["hello   WORLD", " hello world\n", "hello world!", "new words"]
    assert copy_rate(samples, train) == 0.5      # case and spacing do not count; punctuation does
    assert copy_rate(["something else"], train) == 1.0
    assert np.isnan(copy_rate([], train))


# -- bench/conditioning.py: scoring without a model ----------------------------------------
def test_fake_model_of_real_texts_scores_near_the_ceiling(df):
    """A generate() that returns real held-out titles of the asked quintile (and genre) must
    score what real held-out text scores, and nothing about guidance or fluency breaks."""
    from bench.conditioning import ceilings, control_setup, score_model
    big = corpus(n=5000, seed=3, graded=True)
    train, test = big[big["split"] == "train"], big[big["split"] == "test"]
    setup = control_setup(train, features=["energy"])
    low_cut, high_cut = np.quantile(train["energy"], [0.2, 0.8])
    calls = []

    def generate(n, features, labels, guidance, seed):
        calls.append((features, labels, guidance))
        rng = np.random.default_rng(seed)
        if labels:
            pool = test[test["genre"] == labels["genre"]]
        elif features["energy"] <= low_cut:
            pool = test[test["energy"] <= low_cut]
        else:
            pool = test[test["energy"] >= high_cut]
        return pool["text"].to_numpy()[rng.integers(0, len(pool), n)].tolist()

    def logprob(texts):
        return -2.0 * sum(len(t.split()) for t in texts), sum(len(t.split()) for t in texts)

    rows = score_model(generate, logprob, setup, n=200, guidances=(1.0, 2.0), seed=0)
    ceiling = ceilings(big, features=["energy"])
    for r in rows:
        assert r["auc"]["energy"] == pytest.approx(ceiling["heldout_auc"]["energy"], abs=0.05)
        assert 0.8 < r["auc"]["energy"] < 0.97  # graded: about 0.9, not a trivial 1.0
        assert r["genre_accuracy"] == pytest.approx(ceiling["heldout_accuracy"], abs=0.1)
        assert r["fluency_ppl"] == pytest.approx(np.exp(2.0))
        assert 0 < r["distinct_2"] < 1 and r["copy_rate"] == 0.0  # held-out titles are not training titles
    low_call, high_call = calls[0][0], calls[1][0]
    assert low_call["energy"] == pytest.approx(train["energy"][train["energy"] <= low_cut].mean())
    assert high_call["energy"] == pytest.approx(train["energy"][train["energy"] >= high_cut].mean())
    assert low_call["valence"] == high_call["valence"] == pytest.approx(train["valence"].mean())
    assert {c[2] for c in calls} == {1.0, 2.0} and {c[1].get("genre") for c in calls} >= set(GENRES)
