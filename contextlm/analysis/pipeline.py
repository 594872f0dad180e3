"""The two word-cloud runs end to end, for the command line, notebooks and benchmarks:
`model_wordcloud` (sample a model at each level of a feature or label) and
`corpus_wordcloud` (split real text by feature quantiles or label values). Both measure
with `compare` and draw with `write_report`.

A numeric feature is read back from text by a TF-IDF + ridge regressor (mean prediction
per level, AUC lowest vs highest); a label by a TF-IDF + logistic classifier (the share
of each level's texts read as that label).
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from ..errors import ContextLMError
from .compare import Comparison, compare
from .counts import WordFilter
from .levels import (Level, category_levels, check_levels, is_categorical, label_levels, label_values,
                     model_levels, quantile_levels)
from .regressor import FeatureRegressor, LabelClassifier
from .report import check_out_folder, write_report
from .sampling import sample_levels
from .stopwords import load_stopwords

Log = Callable[[str], None]
MONROE = "z: weighted log-odds, informative Dirichlet prior (Monroe et al. 2008)"


@dataclass
class ReportOptions:
    """How the outputs look: cloud size, words per cloud, what sizes the words."""
    width: int = 800
    height: int = 400
    max_words: int = 150
    n_distinctive: int = 8
    extra: dict = field(default_factory=dict)


@dataclass
class RunResult:
    comparison: Comparison
    written: dict[str, Path]
    warnings: list[str]
    seconds: dict[str, float] = field(default_factory=dict)      # sampling, wall clock, per level
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # sampling, CPU time of this process
    accuracy: dict[str, float] | None = None  # label levels: share of texts the classifier reads as the level


def _warn(log: Log, msg: str) -> None:
    log(f"contextlm: warning: {msg}")


def training_texts(train_data: Mapping | None, column: str, override: str | Path | None = None,
                   label: bool = False) -> tuple[list[str], np.ndarray, str]:
    """The training split's texts and `column` values of the corpus a model was trained on
    (its recorded `train_data`, or the file `override`); raises ContextLMError if unavailable.
    `label`: `column` holds names (genre), returned as strings; rows without one are left out."""
    from ..data.corpus import load_corpus
    spec = dict(train_data or {})
    if override is not None:
        if not Path(override).exists():
            raise ContextLMError(f"--train-corpus {override}: no such file")
        spec = {"path": str(override), "text_col": spec.get("text_col", "text")}
    if not spec.get("path"):
        raise ContextLMError("the model folder does not say which corpus it was trained on; pass --train-corpus FILE")
    path = Path(spec["path"])
    if not path.exists():
        raise ContextLMError(f"training corpus {path} not found; pass --train-corpus FILE")
    accepted = set(inspect.signature(load_corpus).parameters) - {"path", "feature_cols", "keep_cols", "verbose"}
    kwargs = {k: v for k, v in spec.items() if k in accepted}
    kwargs.setdefault("drop_missing", True)
    corpus = load_corpus(path, **({"keep_cols": [column]} if label else {"feature_cols": [column]}), **kwargs)
    train = corpus.train if "split" in corpus.df and (corpus.df["split"] == "train").any() else corpus.df
    if label:
        names = label_values(train[column])
        train = train[names.notna().to_numpy()]
        return train["text"].astype(str).tolist(), names.dropna().to_numpy(object), str(path)
    return train["text"].astype(str).tolist(), train[column].to_numpy(float), str(path)


def _reader(categorical: bool) -> tuple[type[FeatureRegressor], str, str]:
    """What reads a feature (ridge) or a label (logistic classifier) back from text: its
    class, what it is, and how it works."""
    if categorical:
        return LabelClassifier, "classifier", "TF-IDF + logistic regression"
    return FeatureRegressor, "regressor", "TF-IDF + ridge"


def _fit_reader(lm, column: str, categorical: bool, train_corpus: str | Path | None, log: Log,
                ) -> FeatureRegressor | None:
    """Fit the text->`column` reader on the model's training corpus, or on `train_corpus`.
    A corpus the user named that cannot be used is an error (they asked for it); the
    model's recorded corpus gone missing only warns: the clouds need no reader."""
    kind, noun, method = _reader(categorical)
    try:
        texts, y, src = training_texts(lm.train_data, column, train_corpus, label=categorical)
        try:
            reader = kind().fit(texts, y)
        except ValueError as e:  # too few texts, or a single label
            raise ContextLMError(f"{src}: cannot fit the text->{column} {noun}: {e}") from None
    except ContextLMError as e:
        if train_corpus is not None:
            raise
        _warn(log, f"no text->{column} {noun}, samples are not scored: {e}")
        return None
    log(f"fit text->{column} {noun} ({method}) on {len(texts):,} training texts of {src}")
    return reader


def _accuracy(levels: Sequence[Level], predicted: Mapping[str, Sequence], log: Log,
              known: Sequence[str] | None = None) -> dict[str, float]:
    """Per label level: the share of its texts the classifier reads as that label (a label
    the classifier never saw, `known` being its labels, is said: its 0 is no finding)."""
    if known is not None and (unseen := [lv.value for lv in levels if lv.value not in set(known)]):
        _warn(log, f"the classifier saw no training text labelled {unseen[0]!r}: it never reads a text as that")
    return {lv.label: float(np.mean(np.asarray(predicted[lv.label], object) == lv.value))
            if len(predicted[lv.label]) else float("nan") for lv in levels}


def _shown(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def _filter(stopwords: str | Path | None) -> tuple[WordFilter, str]:
    words, what = load_stopwords(stopwords)
    return WordFilter(words), what


def model_wordcloud(lm, feature: str, values: Sequence[float] | Sequence[str], out: str | Path, *,
                    fixed: Mapping[str, float] | None = None, labels: Mapping[str, str] | None = None,
                    guidance: float = 1.0, n_words: int = 10_000, seed: int = 0,
                    stopwords: str | Path | None = None, regressor: bool | FeatureRegressor = True,
                    train_corpus: str | Path | None = None, batch_size: int = 256,
                    options: ReportOptions | None = None, title: str | None = None, log: Log = print,
                    **gen_kwargs) -> RunResult:
    """Sample ~`n_words` words from `lm` at `feature` = each value (other features held at
    their training mean or `fixed`, labels set in `labels`), compare the levels and write
    the report under `out`. `feature` may be a label column of the model (`values` are then
    its names, e.g. "rock", "latin"); `guidance` is classifier-free guidance W (1 = none).

    `regressor`: True fits TF-IDF + ridge (a label: TF-IDF + logistic regression) on the
    model's training corpus (or `train_corpus`); a fitted reader is used as is; False skips scoring."""
    out = check_out_folder(out)
    options = options or ReportOptions()
    fixed, labels = dict(fixed or {}), dict(labels or {})
    categorical = feature in (getattr(lm, "label_names", None) or {}) or any(isinstance(v, str) for v in values)
    known = list(lm.feature_names)
    for name in ([] if categorical else [feature]) + list(fixed):
        if name not in known:
            raise ContextLMError(f"unknown feature {name!r} (this model knows: {', '.join(known) or 'none'})")
    keep, stop_what = _filter(stopwords)  # a bad --stopwords file fails before any work
    levels = (label_levels if categorical else model_levels)(feature, values, fixed, labels)
    if len(levels) < 2:
        raise ContextLMError(f"give at least two different levels of {feature} to compare "
                             f"(got {_shown(levels[0].value)})")
    for lv in levels:
        if lv.labels:
            lm.label_ids(lv.labels)  # an unknown label (column) is a one-line error listing the known ones
    warnings = check_levels(levels, lm.feature_stats)
    for w in warnings:
        _warn(log, w)
    if not getattr(lm, "conditioned", True):
        _warn(log, "this model is unconditioned (it ignores features): differences between levels are chance")

    kind, noun, method = _reader(categorical)
    reader = regressor if isinstance(regressor, FeatureRegressor) else None
    if reader is not None and isinstance(reader, LabelClassifier) != categorical:
        raise ContextLMError(f"{feature} needs a text->{feature} {noun} ({kind.__name__}), "
                             f"got a {type(reader).__name__}")
    if regressor is True:
        reader = _fit_reader(lm, feature, categorical, train_corpus, log)

    texts, seconds, cpu = sample_levels(lm, levels, n_words, seed=seed, batch_size=batch_size, log=log,
                                        guidance=guidance, **gen_kwargs)
    preds = {k: reader.predict(v) for k, v in texts.items()} if reader is not None else None
    accuracy = None
    if categorical and preds is not None:
        accuracy = _accuracy(levels, preds, log, known=reader.pipeline.classes_)
    cmp = compare(levels, texts, keep, predictions=None if categorical else preds)
    shown = {**gen_kwargs, "guidance": guidance if guidance != 1 else None}  # W = 1 is the plain model
    settings = ", ".join(f"{k} {v}" for k, v in shown.items() if v is not None)
    footer = f"~{n_words:,} words sampled per level, seed {seed}{', ' + settings if settings else ''} · " \
             f"removed: {stop_what}, punctuation, numbers · {MONROE}"
    written = write_report(cmp, out, title=title or f"What the model says at different levels of {feature}",
                           footer=footer, width=options.width, height=options.height, max_words=options.max_words,
                           seed=seed, n_distinctive=options.n_distinctive, accuracy=accuracy,
                           extra={"source": "model", "seed": seed, "n_words_requested": n_words,
                                  "stopwords": stop_what, "sampling_seconds": seconds, "sampling_cpu_seconds": cpu,
                                  "fixed_features": fixed, "fixed_labels": labels, "guidance": guidance,
                                  "scored_by": f"{noun} ({method})" if reader is not None else None,
                                  "generation": gen_kwargs, **options.extra})
    return RunResult(cmp, written, warnings, seconds, cpu, accuracy)


def corpus_wordcloud(path: str | Path, by: str, out: str | Path, *, bins: int | None = None,
                     levels: Sequence[str] | None = None, text_col: str = "text", split: str | None = None,
                     seed: int = 0, stopwords: str | Path | None = None, regressor: bool = True,
                     options: ReportOptions | None = None, title: str | None = None, log: Log = print) -> RunResult:
    """Compare the words of real texts split by column `by`: a numeric feature into `bins`
    equal-count bins (default 2), a label column (no value reads as a number) by its
    values (`levels`, or all of them). Texts are scored by a reader that never saw them
    (5-fold out-of-fold): a regressor for a feature, a classifier for a label."""
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    out = check_out_folder(out)
    options = options or ReportOptions()
    raw = read_table(path, text_col=text_col)
    categorical = by in raw.columns and is_categorical(raw[by])
    if categorical and bins is not None:
        raise ContextLMError(f"{by} holds labels: its values split the texts, not --bins (choose values with --levels)")
    if not categorical and levels:
        raise ContextLMError(f"--levels goes with a label column; {by} is numeric: it is split into --bins N "
                             f"equal-count bins")
    corpus = corpus_from_df(raw, str(path), text_col, [] if categorical else [by], drop_missing=True,
                            keep_cols=[by] if categorical else [])
    for note in corpus.notes:
        log(note)
    df = corpus.df if split in (None, "all") else corpus.part(split)
    if categorical:
        levels_, row_level = category_levels(df[by], by, levels)
        if n_out := int(row_level.isna().sum()):
            log(f"{n_out:,} of {len(df):,} texts have {'no' if not levels else 'another'} {by}: left out")
    else:
        levels_, row_level = quantile_levels(df[by], by, bins or 2)
    texts = {lv.label: df.loc[row_level == lv.label, "text"].astype(str).tolist() for lv in levels_}
    keep, stop_what = _filter(stopwords)
    preds = accuracy = None
    if regressor:
        kind, noun, method = _reader(categorical)
        y = label_values(df[by]) if categorical else df[by]
        has = y.notna().to_numpy()
        oof = kind().cross_val_predict(df.loc[has, "text"].astype(str).tolist(), y[has].to_numpy(), seed=seed)
        per_row = np.full(len(df), None if categorical else np.nan, dtype=object if categorical else float)
        per_row[has] = oof
        preds = {lv.label: per_row[(row_level == lv.label).to_numpy()] for lv in levels_}
        if categorical:
            accuracy = _accuracy(levels_, preds, log)
        log(f"scored {int(has.sum()):,} texts with a text->{by} {noun} ({method}, 5-fold out-of-fold)")
    cmp = compare(levels_, texts, keep, predictions=None if categorical else preds)
    how = f"{len(levels_)} values of {by}" if categorical else f"{len(levels_)} equal-count bins of {by}"
    footer = f"{Path(path).name}: {sum(map(len, texts.values())):,} texts in {how} · " \
             f"removed: {stop_what}, punctuation, numbers · {MONROE}"
    written = write_report(cmp, out, title=title or f"What people wrote, by {by}", footer=footer,
                           width=options.width, height=options.height, max_words=options.max_words, seed=seed,
                           n_distinctive=options.n_distinctive, accuracy=accuracy,
                           extra={"source": "corpus", "corpus": str(path), "split": split or "all",
                                  "stopwords": stop_what,
                                  "scored_by": f"{noun} ({method}, out-of-fold)" if regressor else None,
                                  **options.extra})
    return RunResult(cmp, written, [], accuracy=accuracy)
