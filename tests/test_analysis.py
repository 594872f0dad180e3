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
from contextlm.analysis.levels import (CATEGORICAL, MAX_CATEGORIES, category_levels, is_categorical, label_levels,
                                       label_values, palette)
from contextlm.analysis.report import check_out_folder, levels_table
from contextlm.analysis.sampling import level_seed, sample_levels, sample_words
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


# -- label levels (genre) --------------------------------------------------------------
def test_label_levels_keep_the_order_asked_and_get_distinct_colours():
    levels = label_levels("genre", ["rock", "latin", "rock", "edm"], fixed={"energy": 0.8}, labels={"mood": "sad"})
    assert [lv.label for lv in levels] == ["genre=rock", "genre=latin", "genre=edm"]
    assert levels[1].labels == {"mood": "sad", "genre": "latin"} and levels[1].features == {"energy": 0.8}
    assert all(lv.categorical and lv.value == lv.label.split("=")[1] for lv in levels)
    assert [lv.color for lv in levels] == CATEGORICAL[:3] and not set(CATEGORICAL) & set(ramp(5))
    assert len(set(palette(20))) == 20
    with pytest.raises(ContextLMError, match="genre is the label being varied"):
        label_levels("genre", ["rock", "pop"], labels={"genre": "pop"})
    assert model_levels("energy", [0, 1], labels={"genre": "pop"})[0].labels == {"genre": "pop"}


def test_a_column_of_names_splits_by_its_values():
    genre = pd.Series(["rock", " pop", "", None, "rock", "latin", "rock", "pop"])
    assert label_values(genre).tolist()[:4] == ["rock", "pop", pd.NA, pd.NA]
    assert is_categorical(genre) and not is_categorical(pd.Series(["0.5", "1", None]))
    assert not is_categorical(pd.Series([None, ""]))
    levels, labels = category_levels(genre, "genre")
    assert [lv.value for lv in levels] == ["rock", "pop", "latin"]  # most common first
    assert labels.tolist()[:2] == ["genre=rock", "genre=pop"] and labels.isna().sum() == 2
    levels, labels = category_levels(genre, "genre", ["latin", "pop"])
    assert [lv.label for lv in levels] == ["genre=latin", "genre=pop"] and labels.isna().sum() == 5
    with pytest.raises(ContextLMError, match="no row has the value 'jazz'"):
        category_levels(genre, "genre", ["jazz", "rock"])
    with pytest.raises(ContextLMError, match="choose some with --levels"):
        category_levels(pd.Series([f"blog{i}" for i in range(MAX_CATEGORIES + 1)]), "blog")
    with pytest.raises(ContextLMError, match="at least two different values"):
        category_levels(pd.Series(["rock", "rock"]), "genre")


def test_level_seeds_of_feature_levels_are_unchanged_by_labels_support():
    import zlib
    old = zlib.crc32(b"0|1|energy=0.1|valence=0.5") & 0x7FFFFFFF  # the key before labels existed
    assert level_seed(0, {"valence": 0.5, "energy": 0.1}, 1) == old
    assert level_seed(0, {"energy": 0.1}, 1, labels={}) == level_seed(0, {"energy": 0.1}, 1)
    rock, pop = (level_seed(0, {"energy": 0.1}, labels={"genre": g}) for g in ("rock", "pop"))
    assert len({rock, pop, level_seed(0, {"energy": 0.1})}) == 3


def test_sampling_passes_labels_and_guidance_and_says_each_warning_once():
    class Warner(FakeLM):
        def generate(self, n, features, labels=None, seed=None, guidance=1.0, **kw):
            import warnings
            self.asked.append((labels, guidance))
            warnings.warn("guidance=2: this model was trained without context dropout")
            return super().generate(n, {"energy": 0.9 if labels["genre"] == "rock" else 0.1}, seed=seed)
    lm, said = Warner(), []
    lm.asked = []
    levels = label_levels("genre", ["rock", "folk"], fixed={"energy": 0.5})
    texts, _, _ = sample_levels(lm, levels, 200, batch_size=20, log=said.append, guidance=2.0)
    assert {a[0]["genre"] for a in lm.asked} == {"rock", "folk"} and {a[1] for a in lm.asked} == {2.0}
    assert set(texts["genre=rock"][0].split()) <= set(HIGH) and set(texts["genre=folk"][0].split()) <= set(LOW)
    assert [s for s in said if "warning" in s] == ["contextlm: warning: guidance=2: this model was trained "
                                                   "without context dropout"]


def test_label_report_has_accuracy_and_distinct_colours(tmp_path):
    levels = label_levels("genre", ["folk", "rock"])
    cmp = compare(levels, {"genre=folk": make_docs(LOW, 30, 1), "genre=rock": make_docs(HIGH, 10, 2)})
    accuracy = {"genre=folk": 0.5, "genre=rock": 1.0}
    table = levels_table(cmp, accuracy)
    assert table["accuracy"].tolist() == [0.5, 1.0] and table["value"].tolist() == ["folk", "rock"]
    assert levels_table(cmp)["accuracy"].isna().all()
    written = write_report(cmp, tmp_path / "r", width=120, height=60, max_words=20, accuracy=accuracy)
    summary = json.loads(written["summary"].read_text())
    assert summary["categorical"] and summary["accuracy"] == pytest.approx((15 + 10) / 40)
    text = terminal_table(cmp, top=3, accuracy=accuracy)
    assert "read as folk: 50%" in text and "62.5% of all texts" in text and "AUC" not in text


def test_out_folder_check(tmp_path):
    assert check_out_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_out_folder(tmp_path) == tmp_path
    (tmp_path / "f").write_text("x")
    for bad in (tmp_path / "f", tmp_path / "f" / "sub"):
        with pytest.raises(ContextLMError, match="is a file; name a folder"):
            check_out_folder(bad)
