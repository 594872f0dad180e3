"""Judge trained VAEs on the same sentences with the same metrics, one row per model.

The columns are the DTU study's (ELBO, reconstruction, KL) plus the importance-weighted
NLL (Burda et al. 2016), active units, mutual information (He et al. 2019) and the size of
the network, so an RNN, CNN, Hybrid or Ladder VAE and the LSTM-LM twin line up:

    table = compare_vaes({"rnn": learn_rnn, "cnn": learn_cnn, "lm": learn_lm}, dls.test, iw_samples=50)

Per sentence, in nats. Everything but IW-NLL is computed on every sentence of the loader;
IW-NLL (the expensive column) on a seeded subset of `iw_sentences` when given.
"""
from __future__ import annotations

import random
from typing import Mapping

import pandas as pd
from fastai.data.core import DataLoaders

from ..errors import ContextLMError
from .callbacks import vae_metrics
from .data import SentenceDL

COLUMNS = ("neg_elbo", "recon", "kl", "iw_nll", "iw_ppl", "au", "mi", "params")


def _validate(learn, dl, iw_samples: int) -> dict[str, float]:
    """The learner's VAE metrics on `dl` (its own metrics and data are put back after; a
    learner loaded without data borrows `dl` as its loaders, as fastai's callbacks need some)."""
    saved, saved_dls = learn.metrics, learn.dls
    learn.metrics = vae_metrics(iw_samples, model=learn.model)
    if not saved_dls.loaders:
        learn.dls = DataLoaders(dl, dl, device=learn.device)
    try:
        with learn.no_bar(), learn.no_logging():
            values = learn.validate(dl=dl)
        names = [m.name for m in learn.metrics]
    finally:
        learn.metrics, learn.dls = saved, saved_dls
    return dict(zip(["loss", *names], (None if v is None else float(v) for v in values)))


def evaluate_vae(learn, dl: SentenceDL, iw_samples: int = 0, iw_sentences: int | None = None,
                 seed: int = 0) -> dict[str, float]:
    """One row: the DTU columns and the evaluation-only estimates of a trained `VAELearner`
    on the sentences of `dl` (a `SentenceDL`, e.g. `dls.test`), plus every per-layer or
    auxiliary metric the model reports (`kl_z1`, `au_z1`, `aux`...)."""
    if not len(dl.dataset):
        raise ContextLMError("evaluate_vae: the loader holds no sentences")
    row = _validate(learn, dl, 0)
    if iw_samples:
        items = list(dl.dataset)
        if iw_sentences and iw_sentences < len(items):
            items = random.Random(seed).sample(items, iw_sentences)
        sub = SentenceDL(items, pad_id=learn.vocab.pad_id, has_cond=dl.has_cond, bs=dl.bs, shuffle=False)
        iw = _validate(learn, sub, iw_samples)
        row.update(iw_nll=iw["iw_nll"], iw_ppl=iw["iw_ppl"], iw_sentences=len(items), iw_samples=iw_samples)
    row.pop("loss", None)
    row["params"] = sum(p.numel() for p in learn.model.parameters())
    return row


def compare_vaes(learners: Mapping[str, object], dl: SentenceDL, iw_samples: int = 0,
                 iw_sentences: int | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per named learner, the DTU columns first (see the module docstring)."""
    if not learners:
        raise ContextLMError("compare_vaes: no models given")
    rows = {name: evaluate_vae(learn, dl, iw_samples, iw_sentences, seed) for name, learn in learners.items()}
    table = pd.DataFrame.from_dict(rows, orient="index")
    first = [c for c in COLUMNS if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]]
