"""Corpus reading and validation: every bad input names the file, row and column."""
import json
import re

import numpy as np
import pandas as pd
import pytest

from contextlm.data.corpus import FeatureScaler, assign_splits, clean_text, corpus_from_df, load_corpus
from contextlm.errors import CorpusError


def _df(n=20, **overrides):
    df = pd.DataFrame({"text": [f"Song number {i} is loud." for i in range(n)],
                       "energy": np.linspace(0, 1, n), "album": [f"a{i // 2}" for i in range(n)]})
    for col, values in overrides.items():
        df[col] = values
    return df


def _write(df, path):
    """`df` written in the format its suffix names."""
    {".csv": lambda p: df.to_csv(p, index=False), ".tsv": lambda p: df.to_csv(p, index=False, sep="\t"),
     ".parquet": df.to_parquet, ".jsonl": lambda p: df.to_json(p, orient="records", lines=True),
     ".json": lambda p: df.to_json(p, orient="records")}[path.suffix](path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".json", ".parquet"])
def test_reads_every_table_format(tmp_path, suffix):
    corpus = load_corpus(_write(_df(), tmp_path / f"c{suffix}"), feature_cols=["energy"])
    assert len(corpus.df) == 20
    assert list(corpus.df.columns) == ["doc_id", "text", "energy", "split"]
    assert set(corpus.df.split) == {"train", "valid", "test"}


def test_txt_is_one_document_per_line(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("first song\n\nsecond song\n" + "\n".join(f"song {i}" for i in range(20)))
    corpus = load_corpus(path)
    assert corpus.df.text.iloc[0] == "first song" and len(corpus.df) == 22


def test_missing_column_names_file_and_columns(tmp_path):
    path = tmp_path / "c.csv"
    _df().to_csv(path, index=False)
    with pytest.raises(CorpusError, match=r"c\.csv: no column 'valence' \(columns: text, energy, album\)"):
        load_corpus(path, feature_cols=["valence"])
    with pytest.raises(CorpusError, match="no column 'body'"):
        load_corpus(path, text_col="body")


@pytest.mark.parametrize("value, message", [
    (np.nan, r"row 4, column 'energy': missing value"),
    ("loud", r"row 4, column 'energy': 'loud' is not a number"),
    (-1.0, r"row 4, column 'energy': -1 is outside the valid range \[0, 1\]"),
    (np.inf, r"row 4, column 'energy': infinite value"),
])
def test_bad_feature_is_an_error_naming_row_and_column(tmp_path, value, message):
    energy = list(np.linspace(0, 1, 20).astype(object))
    energy[3] = value
    path = tmp_path / "c.csv"
    _df(energy=energy).to_csv(path, index=False)
    with pytest.raises(CorpusError, match=r"c\.csv: " + message):
        load_corpus(path, feature_cols=["energy"])


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".jsonl"])
def test_numbers_stored_as_text_in_typed_formats_are_an_error(tmp_path, suffix):
    path = _write(_df(energy=[f"{v:.2f}" for v in np.linspace(0, 1, 20)]), tmp_path / f"c{suffix}")
    with pytest.raises(CorpusError, match=rf"c\{suffix}: row 1, column 'energy': '0.00' is text, not a number"):
        load_corpus(path, feature_cols=["energy"])


def test_numbers_written_as_text_in_csv_are_numbers(tmp_path):
    df = _df(energy=[f" {v:.2f}" for v in np.linspace(0, 1, 20)])  # quoted, so pandas keeps them text
    corpus = corpus_from_df(df, "x.csv", feature_cols=["energy"])
    assert corpus.df.energy.max() == 1.0


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_true_and_false_are_not_numbers(tmp_path, suffix):
    path = _write(_df(energy=[i % 2 == 0 for i in range(20)]), tmp_path / f"c{suffix}")
    with pytest.raises(CorpusError, match=rf"c\{suffix}: row 1, column 'energy': True is not a number"):
        load_corpus(path, feature_cols=["energy"])


def test_mixed_json_values_name_the_first_that_is_not_a_number(tmp_path):
    energy = list(np.linspace(0, 1, 20).astype(object))
    energy[6], energy[8] = [0.5], "0.5"
    path = _write(_df(energy=energy), tmp_path / "c.jsonl")
    with pytest.raises(CorpusError, match=r"c\.jsonl: row 7, column 'energy': \[0.5\] is not a number"):
        load_corpus(path, feature_cols=["energy"])
    corpus = load_corpus(path, feature_cols=["energy"], drop_missing=True)
    assert len(corpus.df) == 18 and "2 missing/invalid features" in corpus.notes[0]


def test_dates_are_not_numbers(tmp_path):
    path = _write(_df(energy=pd.date_range("2020-01-01", periods=20)), tmp_path / "c.parquet")
    with pytest.raises(CorpusError, match=r"c\.parquet: row 1, column 'energy': Timestamp.* is not a number"):
        load_corpus(path, feature_cols=["energy"])


def test_duplicate_columns_in_a_dataframe_are_an_error():
    df = _df()
    df.columns = ["text", "energy", "energy"]
    with pytest.raises(CorpusError, match=r"x: column 'energy' appears more than once"):
        corpus_from_df(df, "x", feature_cols=["energy"])


@pytest.mark.parametrize("name, body", [("h.csv", "text,energy\n"), ("h.tsv", "text\tenergy\n"), ("h.json", "[]")])
def test_a_file_without_rows_is_named(tmp_path, name, body):
    (tmp_path / name).write_text(body)
    with pytest.raises(CorpusError, match=re.escape(f"{name}: no rows")):
        load_corpus(tmp_path / name, feature_cols=["energy"])


def test_drop_missing_reports_how_many_rows_went(tmp_path, capsys):
    energy = list(np.linspace(0, 1, 20).astype(object))
    energy[3], energy[7] = np.nan, "n/a"
    text = [f"t{i}" for i in range(20)]
    text[10] = "   "
    path = tmp_path / "c.csv"
    _df(energy=energy, text=text).to_csv(path, index=False)
    corpus = load_corpus(path, feature_cols=["energy"], drop_missing=True, verbose=True)
    assert len(corpus.df) == 17
    assert "dropped 3 of 20 rows" in capsys.readouterr().out
    assert corpus.df.energy.notna().all()


def test_empty_text_is_an_error(tmp_path):
    text = [f"t{i}" for i in range(20)]
    text[5] = ""
    with pytest.raises(CorpusError, match=r"row 6, column 'text': empty text"):
        corpus_from_df(_df(text=text), "x.csv", feature_cols=["energy"])


def test_huge_text_is_an_error_with_a_way_out():
    text = [f"t{i}" for i in range(20)]
    text[2] = "word " * 50_000
    with pytest.raises(CorpusError, match=r"row 3, column 'text': text is 2[0-9,]+ characters \(limit 100,000"
                                          r".*raise --max-chars.*--drop-missing"):
        corpus_from_df(_df(text=text), "x.csv")
    assert len(corpus_from_df(_df(text=text), "x.csv", max_chars=300_000).df) == 20


def test_drop_missing_drops_over_long_texts_and_counts_them():
    text = [f"t{i}" for i in range(20)]
    text[2], text[5], text[9] = "word " * 50_000, "", "x" * 100_001
    corpus = corpus_from_df(_df(text=text), "x.csv", drop_missing=True)
    assert len(corpus.df) == 17 and corpus.df.text.str.len().max() < 100
    assert corpus.notes == ["x.csv: dropped 3 of 20 rows (2 over-long texts, 1 empty text; "
                            "first: row 3, column 'text': text is 249,999 characters (limit 100,000; "
                            "split the document or raise --max-chars))"]


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,energy\nfine,0.5\ncaf\xe9 song,0.3\n")
    with pytest.raises(CorpusError, match=r"latin\.csv: line 3: bytes .* are not valid utf-8"):
        load_corpus(path, feature_cols=["energy"])
    corpus = load_corpus(path, feature_cols=["energy"], encoding="latin-1", valid_pct=0.5, test_pct=0)
    assert "café song" in corpus.df.text.tolist()


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"text": "a", "energy": 1}) + "\n{not json\n")
    with pytest.raises(CorpusError, match=r"c\.jsonl: line 2: invalid JSON"):
        load_corpus(path)


def test_missing_file_and_unknown_type(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "nope.csv")
    (tmp_path / "c.xlsx").write_text("x")
    with pytest.raises(CorpusError, match="unknown file type '.xlsx'"):
        load_corpus(tmp_path / "c.xlsx")


def test_mojibake_is_fixed():
    assert clean_text("They released aEURoeSilver LiningaEUR and ItaEUR(tm)s great") == \
        "They released \"Silver Lining\" and It's great"
    assert clean_text("donâ€™t  stop") == "don't stop"


def test_split_column_is_respected_and_validated():
    split = ["train"] * 16 + ["validation", "valid", "test", "test"]
    corpus = corpus_from_df(_df(split=split), split_col="split")
    assert corpus.df.split.value_counts().to_dict() == {"train": 16, "valid": 2, "test": 2}
    split[0] = "holdout"
    with pytest.raises(CorpusError, match=r"row 1, column 'split': unknown split 'holdout'"):
        corpus_from_df(_df(split=split), split_col="split")


def test_group_split_keeps_albums_whole_and_is_seeded():
    groups = pd.Series([f"album{i // 3}" for i in range(300)])
    a = assign_splits(groups, 0.1, 0.1, seed=3)
    assert (a == assign_splits(groups, 0.1, 0.1, seed=3)).all()
    assert not (a == assign_splits(groups, 0.1, 0.1, seed=4)).all()
    per_album = pd.DataFrame({"g": groups, "s": a}).groupby("g").s.nunique()
    assert (per_album == 1).all()
    share = pd.Series(a).value_counts(normalize=True)
    assert 0.05 <= share["test"] <= 0.15 and 0.05 <= share["valid"] <= 0.15


def test_sentences_keep_document_id_features_and_split():
    df = _df(text=[f"First sentence of {i}. Second one! Third?" for i in range(20)])
    corpus = corpus_from_df(df, feature_cols=["energy"], id_col=None)
    sents = corpus.sentences()
    assert len(sents.df) == 60
    first = sents.df[sents.df.doc_id == 5]
    assert first.text.tolist() == ["First sentence of 4.", "Second one!", "Third?"]
    assert first.sent_id.tolist() == [0, 1, 2]
    doc = corpus.df[corpus.df.doc_id == 5].iloc[0]
    assert (first.energy == doc.energy).all() and (first.split == doc.split).all()


def test_duplicate_ids_are_an_error():
    with pytest.raises(CorpusError, match="column 'album': id 'a0' appears more than once"):
        corpus_from_df(_df(), id_col="album")


@pytest.mark.parametrize("kind", ["minmax", "standard", "none"])
def test_scaler_round_trips_through_json(kind):
    x = np.array([[0.2, 100.0], [0.4, 120.0], [0.9, 180.0]], np.float32)
    s = FeatureScaler.fit(x, ["energy", "tempo"], kind)
    again = FeatureScaler.from_dict(json.loads(json.dumps(s.to_dict())))
    np.testing.assert_allclose(s.transform(x), again.transform(x))
    if kind == "minmax":
        np.testing.assert_allclose(s.transform(x).min(0), 0) and np.testing.assert_allclose(s.transform(x).max(0), 1)
    with pytest.raises(CorpusError, match="unknown feature scaling"):
        FeatureScaler.fit(x, ["energy", "tempo"], "log")


def test_constant_feature_scales_to_finite_values():
    s = FeatureScaler.fit(np.full((5, 1), 0.5), ["energy"], "standard")
    assert np.isfinite(s.transform(np.array([[0.5], [0.7]]))).all()


def test_keep_cols_travel_through_dropping_splitting_and_sentences():
    energy = list(np.linspace(0, 1, 20).astype(object))
    energy[0] = np.nan
    df = _df(energy=energy, text=[f"One {i}. Two {i}." for i in range(20)], tense=[f"t{i}" for i in range(20)])
    corpus = corpus_from_df(df, feature_cols=["energy"], keep_cols=["tense"], drop_missing=True)
    assert corpus.df.tense.tolist() == [f"t{i}" for i in range(1, 20)]
    sents = corpus.sentences().df
    assert (sents.tense == sents.doc_id.map(lambda d: f"t{d - 1}")).all() and len(sents) == 38
    with pytest.raises(CorpusError, match="no column 'mood'"):
        corpus_from_df(df, keep_cols=["mood"])
    with pytest.raises(CorpusError, match="cannot keep column 'split'"):
        corpus_from_df(_df(split=["train"] * 20), keep_cols=["split"])
