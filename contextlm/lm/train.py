"""The LM recipe, once: corpus file -> `Corpus` -> DataLoaders -> learner -> `fit_one_cycle`
-> perplexity -> a model folder written atomically. `contextlm train lm`, the benchmarks and
the notebooks call these functions, so a setting means the same thing everywhere.

    s = LMSettings(features=["energy"], emb_sz=64, n_hid=128, n_layers=2, epochs=5, lr=2e-2)
    corpus = load_lm_corpus("data/synthetic_reviews.csv", s)
    run = train_lm(corpus, s)                     # run.learn, run.lm, run.metrics
    save_lm_run(run, "runs/lm")                   # model + settings.json + history.csv + loss.png
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..data.corpus import Corpus
from ..training import fit_one_cycle, history_frame
from .settings import LMSettings


@dataclass
class LMRun:
    """A trained LM with what it was trained on and how it scored."""
    learn: Any                       # ContextLMLearner
    settings: LMSettings
    corpus: Corpus
    conditioned: bool
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def lm(self):
        """The inference view (`TrainedLM`), sharing the learner's model."""
        return self.learn.trained_lm()


def load_lm_corpus(path: str | Path, s: LMSettings, use_features: bool = True, verbose: bool = True) -> Corpus:
    """The corpus file read and validated as `s` says; `use_features=False` reads text only
    (a file without feature columns trains the unconditioned LM)."""
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    raw = read_table(path, s.encoding, s.text_col)
    split_col = s.split_col or ("split" if "split" in raw.columns else None)
    features = list(s.features) if use_features else []
    labels = list(s.labels) if use_features else []
    return corpus_from_df(raw, str(path), s.text_col, features, id_col=s.id_col, split_col=split_col,
                          drop_missing=s.drop_missing, valid_pct=s.valid_pct, test_pct=s.test_pct, seed=s.seed,
                          group_col=s.group_col, max_chars=s.max_chars, verbose=verbose, keep_cols=labels)


def lm_dls(corpus: Corpus, s: LMSettings):
    """Train/valid DataLoaders of `corpus` (vocab and scaling from the train split)."""
    from fastai.torch_core import set_seed
    from .data import lm_dataloaders
    set_seed(s.seed)
    return lm_dataloaders(corpus, bs=s.bs, seq_len=s.bptt, min_freq=s.min_freq, max_vocab=s.max_vocab,
                          scaling=s.scaling, label_cols=[c for c in s.labels if c in corpus.keep_cols])


def train_lm(corpus: Corpus, s: LMSettings, use_features: bool = True, dls=None, cbs=None, progress: bool = True,
             log: Callable[[str], None] = print, checkpoint=None) -> LMRun:
    """Train the conditioned LM (or, with `use_features=False`, its unconditioned twin on the
    same data: fastai's AWD-LSTM) and measure validation and test perplexity. `checkpoint`: a
    `contextlm.experiments.checkpoints.Checkpoints` plan (checkpoints every epoch; resume)."""
    from fastai.torch_core import set_seed
    from .learner import context_language_model_learner, evaluate_perplexity
    dls = dls if dls is not None else lm_dls(corpus, s)
    train_data = {"path": str(Path(corpus.source).resolve()) if Path(corpus.source).exists() else corpus.source,
                  "text_col": s.text_col, "feature_cols": list(corpus.feature_cols), "split_col": s.split_col,
                  "group_col": s.group_col, "seed": s.seed}
    set_seed(s.seed)
    learn = context_language_model_learner(dls, use_features=use_features, config=s.arch(), drop_mult=s.drop_mult,
                                           wd=s.wd, train_data=train_data, cbs=cbs)
    if s.vectors:
        from ..vectors import apply_vectors, id_counts
        apply_vectors(learn, learn.model[0].encoder, s.vectors, dls.vocab, s.freeze_vectors,
                      id_counts(dls.train.dataset, len(dls.vocab)), progress, log)
    fit_one_cycle(learn, s.epochs, s.lr, progress, checkpoint=checkpoint)
    run = LMRun(learn, s, corpus, use_features)
    lm = run.lm
    splits = [("valid", corpus.valid)] + ([("test", corpus.test)] if len(corpus.test) else [])
    for split, df in splits:
        run.metrics[split] = evaluate_perplexity(lm, df["text"], corpus.features(split), s.bs, s.bptt,
                                                 labels=df if lm.label_names else None)
    return run


def save_lm_run(run: LMRun, out: str | Path, overwrite: bool = False, title: str | None = None) -> Path:
    """Write the run's model folder atomically: model.pth + config.json, settings.json
    (reusable with `--config`), history.csv and loss.png. Refuses an existing folder unless
    `overwrite`; a failure leaves no half-written folder."""
    from ..modelio import model_folder_writer, write_model_files
    from .learner import MODEL_KIND
    from .plots import plot_lm_losses
    lm = run.lm
    extra = {"metrics": run.metrics, "settings": run.settings.to_dict(), "conditioned": run.conditioned,
             "vectors": getattr(run.learn, "vectors_report", None)}
    with model_folder_writer(out, overwrite=overwrite) as tmp:
        write_model_files(tmp, MODEL_KIND, lm.model, lm.folder_config(extra))
        (tmp / "settings.json").write_text(json.dumps(run.settings.to_dict(), indent=2), encoding="utf-8")
        history_frame(run.learn.recorder).to_csv(tmp / "history.csv", index=False)
        plot_lm_losses(run.learn.recorder, tmp / "loss.png", title or ("conditioned" if run.conditioned
                                                                        else "unconditioned") + " LM")
    return Path(out)
