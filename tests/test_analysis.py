"""The analysis parts of `contextlm wordcloud` on texts made up here (no model)."""
from __future__ import annotations

import json
import random
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from contextlm.analysis import (FeatureRegressor, WordFilter, auc, check_levels, compare, count_words,
                                english_stopwords, load_stopwords, model_levels, quantile_levels, ramp,
                                terminal_table, weighted_log_odds, words, write_report)
from contextlm.analysis import stopwords as sw_mod
from contextlm.analysis.clouds import cloud_image
from contextlm.analysis.sampling import level_seed, sample_words
from contextlm.errors import ContextLMError

LOW = "quiet acoustic ballad piano lullaby gentle rain lonely sleep slow".split()
HIGH = "loud party dance fire electric bass drop jump wild club".split()
COMMON = "the song is a and of it was i love my baby tonight remix".split()


def make_docs(vocab: list[str], n: int, seed: int, length: int = 12) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(vocab + COMMON) for _ in range(length)).capitalize() + "." for _ in range(n)]


# -- stopwords -------------------------------------------------------------------------
def test_offline_stopwords_fall_back_to_packaged_nltk_list(monkeypatch):
    import nltk

    def missing(*args, **kwargs):
        raise LookupError("Resource stopwords not found")
    monkeypatch.setattr(nltk.data, "find", missing)
    words_, source = english_stopwords()
    assert source == "packaged"
    assert len(words_) == 198  # NLTK's English list: 179 classic words + 19 pronoun contractions
    assert {"the", "and", "don't", "i'm", "wouldn't", "ourselves"} <= words_
    assert "piano" not in words_
    _, what = load_stopwords()
    assert "packaged copy" in what


def test_installed_nltk_corpus_is_preferred(tmp_path, monkeypatch):
    import nltk
    folder = tmp_path / "corpora" / "stopwords"
    folder.mkdir(parents=True)
    (folder / "english").write_text("the\nzebra\n", encoding="utf-8")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    words_, source = english_stopwords()
    assert (words_, source) == (frozenset({"the", "zebra"}), "nltk")


def test_user_stopword_file_adds_words(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my list\nRemix, version\nsong\n", encoding="utf-8")
    words_, what = load_stopwords(f)
    assert {"remix", "version", "song", "the"} <= words_
    assert "3 from mine.txt" in what
    with pytest.raises(ContextLMError, match="no such file"):
        load_stopwords(tmp_path / "nope.txt")


# -- counting --------------------------------------------------------------------------
def test_filter_drops_stopwords_punctuation_numbers_and_special_tokens():
    keep = WordFilter(sw_mod._parse(sw_mod.PACKAGED.read_text()))
    text = "The 1990s were LOUD!!! Don't stop: 3 hip-hop xxbos xxunk songs, 2nd time… café’s 4/4 ) n't"
    counts, total = count_words([text], keep)
    assert total == len(words(text))
    assert counts == Counter({"loud": 1, "stop": 1, "hip-hop": 1, "songs": 1, "time": 1, "café's": 1})


# -- log-odds --------------------------------------------------------------------------
def test_log_odds_ranks_planted_word_first():
    rng = np.random.default_rng(0)
    vocab = COMMON + LOW + HIGH
    low = Counter({w: int(c) for w, c in zip(vocab, rng.poisson(40, len(vocab)))})
    high = Counter({w: int(c) for w, c in zip(vocab, rng.poisson(40, len(vocab)))})
    low["love"], high["love"] = 600, 540  # the largest raw difference (60), but common everywhere
    low["zyzzyva"] = 25                   # planted: only at the low level
    table = weighted_log_odds({"low": low, "high": high})
    assert list(table.columns) == ["level", "word", "count", "log_odds", "z"]
    top_low = table[table["level"] == "low"].iloc[0]
    assert top_low["word"] == "zyzzyva" and top_low["z"] > 1.96  # significant at 5%
    # two levels: one is the other's mirror image
    z = table.pivot(index="word", columns="level", values="z")
    np.testing.assert_allclose(z["low"], -z["high"], atol=1e-9)
    assert z.loc["love", "low"] < 2.0 < z.loc["zyzzyva", "low"]


def test_log_odds_needs_two_levels():
    with pytest.raises(ValueError):
        weighted_log_odds({"only": Counter(a=1)})


# -- levels ----------------------------------------------------------------------------
def test_levels_are_sorted_coloured_purple_to_green():
    levels = model_levels("energy", [1, 0, 0.5], fixed={"valence": 0.2})
    assert [lv.value for lv in levels] == [0.0, 0.5, 1.0]
    assert levels[0].label == "energy=0" and levels[0].features == {"valence": 0.2, "energy": 0.0}
    colors = ramp(3)
    assert colors[0] == "#6a1b9a" and colors[-1] == "#2e7d32"  # purple low, green high
    assert [lv.color for lv in levels] == colors


def test_level_checks_refuse_impossible_and_warn_outside_training():
    stats = {"energy": {"mean": 0.6, "std": 0.2, "min": 0.05, "max": 0.95}}
    assert check_levels(model_levels("energy", [0.1, 0.9]), stats) == []
    warnings = check_levels(model_levels("energy", [0, 1]), stats)
    assert len(warnings) == 2 and "outside the training range [0.05, 0.95]" in warnings[0]
    with pytest.raises(ContextLMError, match="energy=1.5 is impossible"):
        check_levels(model_levels("energy", [0, 1.5]), stats)
    with pytest.raises(ContextLMError, match="being varied"):
        model_levels("energy", [0, 1], fixed={"energy": 0.3})


def test_quantile_levels_split_equal_counts():
    values = pd.Series(np.linspace(0, 1, 100))
    levels, labels = quantile_levels(values, "energy", 4)
    assert len(levels) == 4 and labels.value_counts().tolist() == [25] * 4
    assert levels[0].bounds[0] == 0.0 and levels[-1].bounds[1] == 1.0
    assert labels.iloc[0] == levels[0].label and labels.iloc[-1] == levels[-1].label
    with pytest.raises(ContextLMError, match="at least 2 bins"):
        quantile_levels(values, "energy", 1)


# -- regressor -------------------------------------------------------------------------
def test_regressor_tells_low_from_high_text():
    train = make_docs(LOW, 150, 1) + make_docs(HIGH, 150, 2)
    reg = FeatureRegressor().fit(train, [0.1] * 150 + [0.9] * 150)
    low, high = reg.predict(make_docs(LOW, 40, 3)), reg.predict(make_docs(HIGH, 40, 4))
    assert low.mean() < 0.4 < 0.6 < high.mean()
    assert auc(low, high) > 0.95
    assert auc(high, low) < 0.05
    assert abs(auc([0.5] * 10, [0.5] * 10) - 0.5) < 1e-9
    oof = FeatureRegressor().cross_val_predict(train, [0.1] * 150 + [0.9] * 150)
    assert auc(oof[:150], oof[150:]) > 0.9


# -- the report ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def comparison():
    levels = model_levels("energy", [0.1, 0.9])
    texts = {"energy=0.1": make_docs(LOW, 60, 5), "energy=0.9": make_docs(HIGH, 60, 6)}
    reg = FeatureRegressor().fit(make_docs(LOW, 80, 7) + make_docs(HIGH, 80, 8), [0.1] * 80 + [0.9] * 80)
    words_, _ = english_stopwords()
    return compare(levels, texts, WordFilter(words_), predictions={k: reg.predict(v) for k, v in texts.items()})


def test_report_writes_pngs_of_the_expected_size_and_csvs(comparison, tmp_path):
    written = write_report(comparison, tmp_path, width=240, height=120, max_words=40, seed=0)
    for name in ["cloud_energy-0.1.png", "cloud_energy-0.9.png", "distinctive_energy-0.1.png"]:
        with Image.open(tmp_path / name) as img:
            assert img.size == (240, 120)
    with Image.open(written["clouds"]) as img:
        width, height = img.size
    assert width == 2 * 240 + 3 * 24 and height > 2 * 120  # two panels side by side, two rows of clouds
    table = pd.read_csv(written["words"])
    assert list(table.columns) == ["level", "value", "word", "count", "per_10k", "log_odds", "z"]
    assert set(table["level"]) == {"energy=0.1", "energy=0.9"}
    assert "the" not in set(table["word"])
    low = table[table["level"] == "energy=0.1"]
    assert low["count"].is_monotonic_decreasing and low["per_10k"].sum() == pytest.approx(10_000, rel=1e-3)
    assert low.nlargest(1, "z")["word"].iloc[0] in LOW
    levels = pd.read_csv(written["levels"])
    assert levels["mean_pred"].iloc[0] < levels["mean_pred"].iloc[1]
    summary = json.loads(written["summary"].read_text())
    assert summary["auc_lowest_vs_highest"] > 0.9
    assert (tmp_path / "samples_energy-0.1.txt").read_text().count("\n") == 60


def test_clouds_show_the_level_colour():
    img = cloud_image({"piano": 10, "rain": 5}, "#6a1b9a", width=200, height=100, seed=0)
    assert img.shape == (100, 200, 3)
    ink = img[(img < 200).any(axis=2)]
    assert len(ink) and (ink[:, 0] > ink[:, 1]).mean() > 0.9  # purple: more red than green
    blank = cloud_image({}, "#6a1b9a", width=200, height=100, empty="nothing")
    assert blank.shape == (100, 200, 3)


def test_terminal_table_lists_top_and_distinctive_words(comparison):
    text = terminal_table(comparison, top=5)
    assert text.splitlines()[0].split() == ["energy=0.1", "energy=0.9"]
    assert "distinctive" in text and "AUC energy=0.1 vs energy=0.9" in text


# -- sampling (with a stand-in model) ---------------------------------------------------
class FakeLM:
    """Returns `n` texts of random words; the energy decides the vocabulary."""
    def __init__(self):
        self.calls = []

    def generate(self, n, features, seed=None, bs=256, progress=False, **kw):
        self.calls.append((n, seed))
        rng = random.Random(seed)
        vocab = HIGH if features["energy"] > 0.5 else LOW
        return [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 9))) for _ in range(n)]


def test_sampling_reaches_n_words_reproducibly():
    lm = FakeLM()
    texts = sample_words(lm, {"energy": 0.9}, 1000, seed=3, batch_size=50)
    n = [len(t.split()) for t in texts]
    assert sum(n) >= 1000 and sum(n) - n[-1] < 1000  # stops at the text that reaches n_words
    assert len(lm.calls) > 1 and all(c[0] >= 50 for c in lm.calls)
    assert sample_words(FakeLM(), {"energy": 0.9}, 1000, seed=3, batch_size=50) == texts
    assert sample_words(FakeLM(), {"energy": 0.9}, 1000, seed=4, batch_size=50) != texts
    assert level_seed(0, {"energy": 0.1}) != level_seed(0, {"energy": 0.9})


def test_sampled_repeat_markers_cannot_swamp_a_level():
    class Repeater(FakeLM):
        def generate(self, n, features, seed=None, **kw):
            return ["remix " * 2022] + ["soft piano"] * (n - 1)  # what `xxwrep 2022 remix` detokenizes to
    texts = sample_words(Repeater(), {"energy": 0.1}, 100, batch_size=60, max_len=20)
    assert len(texts[0].split()) == 20 and len(texts) == 41
    assert level_seed(0, {"energy": 0.1, "valence": 0.5}) == level_seed(0, {"valence": 0.5, "energy": 0.1})
