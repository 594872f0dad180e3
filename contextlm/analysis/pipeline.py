"""The two word-cloud runs end to end, for the command line, notebooks and benchmarks:
`model_wordcloud` (sample a model at each level) and `corpus_wordcloud` (split real
text by feature quantiles). Both measure with `compare` and draw with `write_report`.
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
from .levels import check_levels, model_levels, quantile_levels
from .regressor import FeatureRegressor
from .report import write_report
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


def _warn(log: Log, msg: str) -> None:
    log(f"contextlm: warning: {msg}")


def training_texts(train_data: Mapping | None, feature: str, override: str | Path | None = None,
                   ) -> tuple[list[str], np.ndarray, str]:
    """The training split's texts and `feature` values of the corpus a model was trained on
    (its recorded `train_data`, or the file `override`); raises ContextLMError if unavailable."""
    from ..data.corpus import load_corpus
    spec = dict(train_data or {})
    if override is not None:
        spec = {"path": str(override), "text_col": spec.get("text_col", "text")}
    if not spec.get("path"):
        raise ContextLMError("the model folder does not say which corpus it was trained on; pass --train-corpus FILE")
    path = Path(spec["path"])
    if not path.exists():
        raise ContextLMError(f"training corpus {path} not found; pass --train-corpus FILE")
    accepted = set(inspect.signature(load_corpus).parameters) - {"path", "feature_cols", "verbose"}
    kwargs = {k: v for k, v in spec.items() if k in accepted}
    kwargs.setdefault("drop_missing", True)
    corpus = load_corpus(path, feature_cols=[feature], **kwargs)
    train = corpus.train if "split" in corpus.df and (corpus.df["split"] == "train").any() else corpus.df
    return train["text"].astype(str).tolist(), train[feature].to_numpy(float), str(path)


def _filter(stopwords: str | Path | None) -> tuple[WordFilter, str]:
    words, what = load_stopwords(stopwords)
    return WordFilter(words), what


def model_wordcloud(lm, feature: str, values: Sequence[float], out: str | Path, *,
                    fixed: Mapping[str, float] | None = None, n_words: int = 10_000, seed: int = 0,
                    stopwords: str | Path | None = None, regressor: bool | FeatureRegressor = True,
                    train_corpus: str | Path | None = None, batch_size: int = 256,
                    options: ReportOptions | None = None, title: str | None = None, log: Log = print,
                    **gen_kwargs) -> RunResult:
    """Sample ~`n_words` words from `lm` at `feature` = each value (others held at their
    training mean or `fixed`), compare the levels and write the report under `out`.

    `regressor`: True fits TF-IDF + ridge on the model's training corpus (or
    `train_corpus`); a fitted FeatureRegressor is used as is; False skips scoring."""
    options = options or ReportOptions()
    fixed = dict(fixed or {})
    known = list(lm.feature_names)
    for name in [feature, *fixed]:
        if name not in known:
            raise ContextLMError(f"unknown feature {name!r} (this model knows: {', '.join(known) or 'none'})")
    keep, stop_what = _filter(stopwords)  # a bad --stopwords file fails before any work
    levels = model_levels(feature, values, fixed)
    if len(levels) < 2:
        raise ContextLMError(f"give at least two different levels of {feature} to compare (got {values[0]:g})")
    warnings = check_levels(levels, lm.feature_stats)
    for w in warnings:
        _warn(log, w)
    if not getattr(lm, "conditioned", True):
        _warn(log, "this model is unconditioned (it ignores features): differences between levels are chance")

    reg = regressor if isinstance(regressor, FeatureRegressor) else None
    if regressor is True:
        try:
            texts, y, src = training_texts(lm.train_data, feature, train_corpus)
            reg = FeatureRegressor().fit(texts, y)
            log(f"fit text->{feature} regressor (TF-IDF + ridge) on {len(texts):,} training texts of {src}")
        except ContextLMError as e:
            _warn(log, f"no text->{feature} regressor, samples are not scored: {e}")

    texts, seconds, cpu = sample_levels(lm, levels, n_words, seed=seed, batch_size=batch_size, log=log, **gen_kwargs)
    preds = {k: reg.predict(v) for k, v in texts.items()} if reg is not None else None
    cmp = compare(levels, texts, keep, predictions=preds)
    settings = ", ".join(f"{k} {v}" for k, v in gen_kwargs.items() if v is not None)
    footer = f"~{n_words:,} words sampled per level, seed {seed}{', ' + settings if settings else ''} · " \
             f"removed: {stop_what}, punctuation, numbers · {MONROE}"
    written = write_report(cmp, out, title=title or f"What the model says at different levels of {feature}",
                           footer=footer, width=options.width, height=options.height, max_words=options.max_words,
                           seed=seed, n_distinctive=options.n_distinctive,
                           extra={"source": "model", "seed": seed, "n_words_requested": n_words,
                                  "stopwords": stop_what, "sampling_seconds": seconds, "sampling_cpu_seconds": cpu,
                                  "fixed_features": fixed, "generation": gen_kwargs, **options.extra})
    return RunResult(cmp, written, warnings, seconds, cpu)


def corpus_wordcloud(path: str | Path, by: str, out: str | Path, *, bins: int = 2, text_col: str = "text",
                     split: str | None = None, seed: int = 0, stopwords: str | Path | None = None,
                     regressor: bool = True, options: ReportOptions | None = None, title: str | None = None,
                     log: Log = print) -> RunResult:
    """Split a corpus into `bins` equal-count bins of feature `by` and compare the bins'
    words. Texts are scored by a regressor that never saw them (5-fold out-of-fold)."""
    from ..data.corpus import load_corpus
    options = options or ReportOptions()
    corpus = load_corpus(path, text_col=text_col, feature_cols=[by], drop_missing=True)
    for note in corpus.notes:
        log(note)
    df = corpus.df if split in (None, "all") else corpus.part(split)
    levels, labels = quantile_levels(df[by], by, bins)
    texts = {lv.label: df.loc[labels == lv.label, "text"].astype(str).tolist() for lv in levels}
    keep, stop_what = _filter(stopwords)
    preds = None
    if regressor:
        oof = FeatureRegressor().cross_val_predict(df["text"].astype(str).tolist(), df[by].to_numpy(float), seed=seed)
        preds = {lv.label: oof[(labels == lv.label).to_numpy()] for lv in levels}
        log(f"scored {len(df):,} texts with a text->{by} regressor (TF-IDF + ridge, 5-fold out-of-fold)")
    cmp = compare(levels, texts, keep, predictions=preds)
    footer = f"{Path(path).name}: {len(df):,} texts in {len(levels)} equal-count bins of {by} · " \
             f"removed: {stop_what}, punctuation, numbers · {MONROE}"
    written = write_report(cmp, out, title=title or f"What people wrote, by {by}", footer=footer,
                           width=options.width, height=options.height, max_words=options.max_words, seed=seed,
                           n_distinctive=options.n_distinctive,
                           extra={"source": "corpus", "corpus": str(path), "split": split or "all",
                                  "stopwords": stop_what, **options.extra})
    return RunResult(cmp, written, [])
