"""Corpus in: read a table of music writing with audio-feature columns, validate it,
clean the text, split it into train/valid/test, and optionally into sentences.

Every problem a user can have with their file becomes one line naming the file, the
row (1-based, header excluded) and the column. The result is a `Corpus`: a DataFrame
with the columns `doc_id, text, <features...>, split`, and the feature names.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import CorpusError
from ..features.schema import valid_range
from .io import TYPED, read_table, require_unique

SPLITS = ("train", "valid", "test")
_SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "validation": "valid",
                  "val": "valid", "dev": "valid", "test": "test", "testing": "test"}
# Mojibake that was transliterated to ASCII after the fact (cp1252 "â€œ" -> "aEURoe"): ftfy
# cannot see it any more, so map the forms met in real music-blog posts back.
_ASCII_MOJIBAKE = (("aEUR(tm)", "\u2019"), ("aEURoe", "\u201c"), ('aEUR"', "\u2014"), ("aEUR", "\u201d"))
DEFAULT_MAX_CHARS = 100_000


@dataclass
class Corpus:
    """Validated documents with their feature vectors and split."""
    df: pd.DataFrame
    feature_cols: list[str]
    source: str = "<dataframe>"
    notes: list[str] = field(default_factory=list)
    keep_cols: list[str] = field(default_factory=list)  # user columns carried along (e.g. a label)

    def part(self, split: str) -> pd.DataFrame:
        """The rows of one split (`train`, `valid` or `test`)."""
        if split not in SPLITS:
            raise CorpusError(f"{self.source}: unknown split {split!r} (use {', '.join(SPLITS)})")
        return self.df[self.df["split"] == split]

    @property
    def train(self) -> pd.DataFrame: return self.part("train")

    @property
    def valid(self) -> pd.DataFrame: return self.part("valid")

    @property
    def test(self) -> pd.DataFrame: return self.part("test")

    def features(self, split: str | None = None) -> np.ndarray:
        """Raw feature matrix (n_rows, n_features) as float32, for one split or all rows."""
        df = self.df if split is None else self.part(split)
        return df[self.feature_cols].to_numpy(dtype=np.float32).reshape(len(df), len(self.feature_cols))

    def feature_stats(self, split: str = "train") -> dict[str, dict[str, float]]:
        """Mean, std, min and max of each feature on a split (raw units)."""
        from ..conditioning import feature_stats
        return feature_stats(self.features(split), self.feature_cols)

    def sentences(self, min_chars: int = 1) -> "Corpus":
        """One row per sentence (spaCy's rule-based sentencizer); every sentence keeps
        its document's `doc_id`, features and split, plus `sent_id` within the document."""
        nlp = _sentencizer()
        rows = []
        records = self.df.to_dict("records")
        for rec, doc in zip(records, nlp.pipe(self.df["text"].tolist(), batch_size=256)):
            sents = [s.text.strip() for s in doc.sents]
            for i, sent in enumerate(s for s in sents if len(s) >= min_chars):
                rows.append({**rec, "text": sent, "sent_id": i})
        cols = ["doc_id", "sent_id", "text", *self.feature_cols, *self.keep_cols, "split"]
        out = pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)
        return Corpus(out, list(self.feature_cols), self.source, list(self.notes), list(self.keep_cols))


def _numbers(values: pd.Series, typed: bool) -> pd.Series:
    """Which values are numbers. True/False are not (pandas would make them 1 and 0), nor
    are dates; a string is one only in a text format (CSV/TSV), where every value is
    written as text: in Parquet or JSON it is a number stored as text, or the wrong column."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return pd.Series(True, index=values.index)
    return values.map(lambda v: (isinstance(v, str) and not typed)
                      or (isinstance(v, (numbers.Real, Decimal)) and not isinstance(v, (bool, np.bool_)))).astype(bool)


def _not_a_number(value, typed: bool) -> str:
    if typed and isinstance(value, str):
        return f"{value!r} is text, not a number (store the column as numbers)"
    return f"{value!r} is not a number"


def _sentencizer():
    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def clean_text(text: str) -> str:
    """Fix mojibake (ftfy, plus ASCII-transliterated forms) and normalise whitespace."""
    import ftfy
    for bad, good in _ASCII_MOJIBAKE:
        text = text.replace(bad, good)
    return " ".join(ftfy.fix_text(text).split())  # ftfy also straightens curly quotes


def load_corpus(path: str | Path, text_col: str = "text", feature_cols: Sequence[str] = (),
                id_col: str | None = None, split_col: str | None = None, drop_missing: bool = False,
                encoding: str = "utf-8", fix_text: bool = True, valid_pct: float = 0.1, test_pct: float = 0.1,
                seed: int = 42, group_col: str | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                verbose: bool = False, keep_cols: Sequence[str] = ()) -> Corpus:
    """Read and validate a corpus file (CSV/TSV, JSON/JSONL, Parquet, TXT).

    `split_col` names a column holding train/valid/test; without it rows are split at
    random with `seed` (by `group_col` if given, so one album never spans two splits).
    `drop_missing` drops rows with empty or over-long text or missing/invalid features
    and says how many went; otherwise the first such row is an error. `keep_cols` are
    carried along unchanged (through dropping, splitting and `sentences()`)."""
    path = Path(path)
    df = read_table(path, encoding=encoding, text_col=text_col)
    return corpus_from_df(df, str(path), text_col, feature_cols, id_col, split_col, drop_missing, fix_text,
                          valid_pct, test_pct, seed, group_col, max_chars, verbose, keep_cols)


def corpus_from_df(df: pd.DataFrame, source: str = "<dataframe>", text_col: str = "text",
                   feature_cols: Sequence[str] = (), id_col: str | None = None, split_col: str | None = None,
                   drop_missing: bool = False, fix_text: bool = True, valid_pct: float = 0.1,
                   test_pct: float = 0.1, seed: int = 42, group_col: str | None = None,
                   max_chars: int = DEFAULT_MAX_CHARS, verbose: bool = False,
                   keep_cols: Sequence[str] = (), require_splits: Sequence[str] = ("train", "valid")) -> Corpus:
    """Validate an in-memory table the same way `load_corpus` validates a file.
    `require_splits` must each hold a row (training needs train and valid; evaluation none)."""
    feature_cols, keep_cols = list(feature_cols), [c for c in keep_cols if c not in feature_cols]
    reserved = {"doc_id", "sent_id", "text", "split", *feature_cols}
    if clash := [c for c in keep_cols if c in reserved and c != text_col]:
        raise CorpusError(f"{source}: cannot keep column {clash[0]!r}: contextlm writes a column of that name")
    if len(set(feature_cols)) != len(feature_cols):
        raise CorpusError(f"{source}: a feature column is named twice in {feature_cols}")
    require_unique(source, df.columns)
    if len(df) == 0:
        raise CorpusError(f"{source}: no rows")
    needed = [text_col, *feature_cols, *keep_cols] + [c for c in (id_col, split_col, group_col) if c]
    for col in needed:
        if col not in df.columns:
            shown = ", ".join(map(str, df.columns[:20])) + (" ..." if len(df.columns) > 20 else "")
            raise CorpusError(f"{source}: no column {col!r} (columns: {shown or 'none'})")
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)  # 1-based, header excluded
    bad = pd.Series("", index=df.index)  # first problem of each row, "" if none
    kind = pd.Series("", index=df.index)  # its kind, counted in the note on dropped rows

    def flag(mask: pd.Series, what: str, why, values: pd.Series | None = None) -> None:
        """Give rows in `mask` without a problem yet the problem `why`: a string, or a
        function of the row's entry in `values`."""
        hit = mask & (bad == "")
        bad[hit] = why if values is None else [why(v) for v in values[hit]]
        kind[hit] = what

    texts = df[text_col].map(lambda t: "" if t is None or (isinstance(t, float) and np.isnan(t)) else str(t))
    if fix_text:
        texts = texts.map(clean_text)
    else:
        texts = texts.map(lambda t: " ".join(t.split()))
    flag(texts == "", "empty text", f"column {text_col!r}: empty text")
    flag(texts.str.len() > max_chars, "over-long text",
         lambda n: f"column {text_col!r}: text is {n:,} characters (limit {max_chars:,}; "
                   "split the document or raise --max-chars)", texts.str.len())

    typed = df.attrs.get(TYPED, False)
    feats = {}
    for col in feature_cols:
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        missing = raw.isna() | raw.map(lambda v: isinstance(v, str) and not v.strip()).astype(bool)
        flag(missing, "missing/invalid feature", f"column {col!r}: missing value")
        flag(~_numbers(raw, typed) | num.isna(), "missing/invalid feature",
             lambda v: f"column {col!r}: " + _not_a_number(v, typed), raw)
        flag(np.isinf(num.fillna(0)), "missing/invalid feature", f"column {col!r}: infinite value")
        rng = valid_range(col)
        if rng is not None:
            flag((num < rng[0]) | (num > rng[1]), "missing/invalid feature",
                 lambda v: f"column {col!r}: {v:g} is outside the valid range [{rng[0]:g}, {rng[1]:g}]", num)
        feats[col] = num

    notes: list[str] = []
    failing = bad != ""
    if failing.any():
        first = failing.idxmax()
        where = f"{source}: row {rows[first]}, {bad[first]}"
        if not drop_missing:
            raise CorpusError(where + " (fix the row, or drop such rows with --drop-missing)")
        counts = ", ".join(f"{n} {what}{'s' if n > 1 else ''}" for what, n in kind[failing].value_counts().items())
        notes.append(f"{source}: dropped {int(failing.sum())} of {len(df)} rows ({counts}; "
                     f"first: row {rows[first]}, {bad[first]})")
    keep = ~failing
    if not keep.any():
        raise CorpusError(f"{source}: no usable rows left after dropping {len(df)} invalid rows")

    out = pd.DataFrame({"doc_id": df[id_col] if id_col else rows, "text": texts})
    for col in feature_cols:
        out[col] = feats[col].astype("float32")
    for col in keep_cols:
        out[col] = df[col]
    if group_col:
        out["_group"] = df[group_col].astype(str)
    if split_col:
        out["split"] = _read_splits(df[split_col], rows, source, split_col)
    out = out[keep].reset_index(drop=True)
    if id_col and out["doc_id"].duplicated().any():
        dup = out["doc_id"][out["doc_id"].duplicated()].iloc[0]
        raise CorpusError(f"{source}: column {id_col!r}: id {dup!r} appears more than once")
    if not split_col:
        out["split"] = assign_splits(out["_group"] if group_col else pd.Series(np.arange(len(out))),
                                     valid_pct, test_pct, seed)
    out = out.drop(columns=["_group"], errors="ignore")
    for name in require_splits:
        if not (out["split"] == name).any():
            raise CorpusError(f"{source}: no {name!r} rows after splitting {len(out)} rows "
                              f"(give more rows, a larger --valid-pct, or a split column)")
    corpus = Corpus(out, feature_cols, source, notes, keep_cols)
    if verbose:
        for note in notes:
            print(note)
    return corpus


def _read_splits(values: pd.Series, rows: pd.Series, source: str, col: str) -> pd.Series:
    norm = values.astype(str).str.strip().str.lower().map(_SPLIT_ALIASES)
    if norm.isna().any():
        first = norm.isna().idxmax()
        raise CorpusError(f"{source}: row {rows[first]}, column {col!r}: unknown split {values[first]!r} "
                          f"(use train, valid or test)")
    return norm


def assign_splits(groups: pd.Series, valid_pct: float = 0.1, test_pct: float = 0.1, seed: int = 42) -> np.ndarray:
    """Seeded train/valid/test assignment where all rows of one group share a split.

    Groups are shuffled and taken in order until the test, then the valid, share of
    *rows* is reached, so a split never holds part of a group."""
    if not (0 <= valid_pct < 1 and 0 <= test_pct < 1 and valid_pct + test_pct < 1):
        raise CorpusError(f"valid_pct={valid_pct} and test_pct={test_pct} must be in [0, 1) and sum below 1")
    sizes = groups.value_counts(sort=False)
    order = np.random.default_rng(seed).permutation(len(sizes))
    cum = np.cumsum(sizes.to_numpy()[order]) / len(groups)
    names = np.where(cum <= test_pct, "test", np.where(cum <= test_pct + valid_pct, "valid", "train"))
    if test_pct > 0 and "test" not in names and len(names) > 2:
        names[0] = "test"
    if valid_pct > 0 and "valid" not in names and len(names) > 2:
        names[1 if names[0] == "test" else 0] = "valid"
    lookup = dict(zip(sizes.index[order], names))
    return groups.map(lookup).to_numpy()


def as_rows(x, n_features: int) -> np.ndarray:
    """A float32 matrix of feature rows; a 1-D input is one row (also with zero features)."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        return x
    return x.reshape(-1, n_features) if n_features else x.reshape(1, 0)


@dataclass
class FeatureScaler:
    """Min-max or standard scaling fitted on the training split and stored with the model,
    so sampling at `energy=0.9` means the same thing it meant in training."""
    kind: str
    names: list[str]
    shift: list[float]
    scale: list[float]

    KINDS = ("minmax", "standard", "none")

    @classmethod
    def fit(cls, x: np.ndarray, names: Sequence[str], kind: str = "minmax") -> "FeatureScaler":
        if kind not in cls.KINDS:
            raise CorpusError(f"unknown feature scaling {kind!r} (use {', '.join(cls.KINDS)})")
        x = as_rows(x, len(names)).astype(np.float64)
        if not len(x):
            raise CorpusError("cannot fit feature scaling on zero rows")
        if kind == "minmax":
            shift, scale = x.min(0), x.max(0) - x.min(0)
        elif kind == "standard":
            shift, scale = x.mean(0), x.std(0)
        else:
            shift, scale = np.zeros(len(names)), np.ones(len(names))
        scale = np.where(scale > 0, scale, 1.0)  # a constant feature stays finite
        return cls(kind, list(names), shift.tolist(), scale.tolist())

    def transform(self, x: np.ndarray) -> np.ndarray:
        x = as_rows(x, len(self.names))
        return ((x - np.asarray(self.shift, np.float32)) / np.asarray(self.scale, np.float32)).astype(np.float32)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "names": self.names, "shift": self.shift, "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureScaler":
        return cls(d["kind"], list(d["names"]), list(d["shift"]), list(d["scale"]))
