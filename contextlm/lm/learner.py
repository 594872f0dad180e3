"""Learners for the conditioned language model, and the trained model as a folder.

    dls   = lm_dataloaders(load_corpus("reviews.csv", feature_cols=["energy"]))
    learn = context_language_model_learner(dls, config=dict(emb_sz=200, n_hid=400, n_layers=2))
    learn.fit_one_cycle(4, 3e-3)
    learn.save_folder("runs/lm")           # model.pth + config.json, no pickle
    lm = load_lm("runs/lm")
    lm.generate(20, features={"energy": 0.9})

`use_features=False` trains the unconditioned twin through the same code and data:
the loader still yields features, the model has none and ignores them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import fastai.callback.all  # noqa: F401  (fit_one_cycle, progress bars, CSVLogger: as `from fastai.text.all import *` gives)
from fastai.basics import CrossEntropyLossFlat, accuracy
from fastai.metrics import Perplexity
from fastai.text.learner import TextLearner
from fastai.text.models.awdlstm import awd_lstm_lm_split

from ..conditioning import Condition
from ..data.corpus import FeatureScaler, as_rows
from ..data.tokens import BOS_ID, Vocab, detokenize, tokenize
from ..errors import ContextLMError
from .sampling import sample_ids
from ..modelio import load_model_folder, load_state_strict, save_model_folder
from .model import DEFAULT_LM_CONFIG, ContextLanguageModel, context_language_model

MODEL_KIND = "context-lm"


class ContextLMLearner(TextLearner):
    """fastai `TextLearner` (ModelResetter, RNNCallback, AR/TAR) for `ContextLanguageModel`,
    which can save itself as a model folder and sample text."""

    def trained_lm(self) -> "TrainedLM":
        """The inference view of this learner (shares the model)."""
        dls = self.dls
        return TrainedLM(self.model, Vocab(dls.vocab), list(dls.feature_names), dls.scaler,
                         dict(dls.feature_stats), dict(self.arch_config), train_data=getattr(self, "train_data", None))

    def save_folder(self, path: str | Path, extra: dict | None = None) -> Path:
        """Save weights + JSON config (vocab, features, scaling, hyperparameters) to `path`."""
        return self.trained_lm().save(path, extra)

    def generate(self, n: int = 1, features: dict[str, float] | None = None, **kwargs) -> list[str]:
        """Sample `n` texts at the given feature values (raw units); see `TrainedLM.generate`."""
        return self.trained_lm().generate(n, features, **kwargs)


def context_language_model_learner(dls, use_features: bool = True, config: dict | None = None,
                                   drop_mult: float = 1.0, metrics=None, train_data: dict | None = None,
                                   **kwargs) -> ContextLMLearner:
    """Mirror of fastai's `language_model_learner` for the conditioned AWD-LSTM.

    `use_features=False` builds the unconditioned baseline (exactly fastai's AWD-LSTM)
    over the same DataLoaders. `config` overrides fastai's `awd_lstm_lm_config`."""
    n_features = len(dls.feature_names) if use_features else 0
    arch_config = {**DEFAULT_LM_CONFIG, **(config or {})}
    model = context_language_model(len(dls.vocab), n_features, arch_config, drop_mult)
    metrics = [accuracy, Perplexity()] if metrics is None else metrics
    learn = ContextLMLearner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=awd_lstm_lm_split,
                             metrics=metrics, **kwargs)
    learn.arch_config = {**arch_config, "drop_mult": drop_mult}
    learn.train_data = train_data
    return learn


@dataclass
class TrainedLM:
    """A trained conditioned LM with everything needed to use it on new text."""
    model: ContextLanguageModel
    vocab: Vocab
    feature_names: list[str]
    scaler: FeatureScaler
    feature_stats: dict[str, dict[str, float]]
    arch_config: dict[str, Any]
    train_data: dict | None = None
    extra: dict = field(default_factory=dict)

    @property
    def conditioned(self) -> bool:
        return self.model.n_features > 0

    # -- features ---------------------------------------------------------------------
    @property
    def condition(self) -> Condition:
        """The model's feature context (names, training scaler and statistics)."""
        return Condition("features", self.feature_names, self.scaler.to_dict(), self.feature_stats)

    def feature_vector(self, features: dict[str, float] | None = None) -> np.ndarray:
        """Raw feature vector: `features` by name, the others at their training mean
        (the rules of `contextlm.conditioning`: impossible values are errors, values
        outside the training range warn)."""
        return self.condition.feature_vector(features)

    def scaled_features(self, raw: np.ndarray) -> torch.Tensor:
        """Scale raw feature rows as in training; an unconditioned model gets zero columns."""
        x = torch.from_numpy(self.scaler.transform(as_rows(raw, len(self.feature_names))))
        return x if self.conditioned else x[:, :0]

    # -- sampling ---------------------------------------------------------------------
    def generate_tokens(self, n: int = 1, features: dict[str, float] | None = None, max_len: int = 60,
                        temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                        no_unk: bool = True, seed: int | None = None, prefix: str = "", bs: int = 256,
                        progress: bool = False) -> list[list[str]]:
        """Sample `n` documents as fastai token lists, `bs` sequences at a time."""
        if n < 0 or max_len < 1:
            raise ContextLMError(f"n must be >= 0 and max_len >= 1 (got n={n}, max_len={max_len})")
        feats = self.scaled_features(self.feature_vector(features)).expand(n, -1)
        prefix_ids = self.vocab.numericalize(tokenize([prefix])[0]).tolist() if prefix.strip() else [BOS_ID]
        gen = torch.Generator(device=next(self.model.parameters()).device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, ()).item()))
        starts = range(0, n, bs)
        if progress:
            from fastprogress.fastprogress import progress_bar
            starts = progress_bar(starts, leave=False)
        out = []
        for start in starts:
            ids = sample_ids(self.model, prefix_ids, feats[start:start + bs], max_len, temperature, top_k, top_p,
                             no_unk, banned_ids=self.vocab.never_sampled, generator=gen)
            out += [self.vocab.textify(prefix_ids[1:] + row) for row in ids]
        return out

    def generate(self, n: int = 1, features: dict[str, float] | None = None, **kwargs) -> list[str]:
        """Sample `n` readable texts at `features` (raw units; unnamed features are held
        at their training mean). Keywords: see `generate_tokens`."""
        return [detokenize(t) for t in self.generate_tokens(n, features, **kwargs)]

    # -- folders ----------------------------------------------------------------------
    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        config = {"arch": self.arch_config, "n_features": self.model.n_features, "vocab": self.vocab.itos,
                  "feature_names": self.feature_names, "scaler": self.scaler.to_dict(),
                  "feature_stats": self.feature_stats, "train_data": self.train_data,
                  "extra": {**self.extra, **(extra or {})}}
        return save_model_folder(path, MODEL_KIND, self.model, config)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "TrainedLM":
        state, cfg = load_model_folder(path, MODEL_KIND)
        try:
            arch = {k: v for k, v in cfg["arch"].items() if k != "drop_mult"}
            model = context_language_model(len(cfg["vocab"]), int(cfg["n_features"]), arch)
            vocab, scaler = Vocab(cfg["vocab"]), FeatureScaler.from_dict(cfg["scaler"])
            names, stats = list(cfg["feature_names"]), dict(cfg["feature_stats"])
        except (KeyError, TypeError, ValueError) as e:
            from ..errors import ModelFolderError
            raise ModelFolderError(f"{path}: config.json is incomplete or inconsistent ({type(e).__name__}: {e})") from None
        load_state_strict(model, state, path)
        model.eval()
        if device is not None:
            model.to(device)
        return cls(model, vocab, names, scaler, stats, cfg["arch"], cfg.get("train_data"), cfg.get("extra") or {})


def load_lm(path: str | Path, device: str | torch.device | None = None) -> TrainedLM:
    """Load a model folder written by `ContextLMLearner.save_folder` / `contextlm train lm`."""
    return TrainedLM.load(path, device)


def stream_loader(lm: TrainedLM, texts: Sequence[str], raw_features: np.ndarray, bs: int = 32, seq_len: int = 70):
    """A non-shuffled LM loader over new texts, numericalized and scaled with `lm`'s vocab and scaler."""
    from .data import lm_loader
    ids = [lm.vocab.numericalize(t) for t in tokenize(list(texts))]
    feats = lm.scaler.transform(np.asarray(raw_features, np.float32).reshape(len(ids), len(lm.feature_names)))
    device = next(lm.model.parameters()).device
    return lm_loader(ids, feats, bs=bs, seq_len=seq_len, shuffle=False, device=device)


@torch.no_grad()
def evaluate_perplexity(lm: TrainedLM, texts: Sequence[str], raw_features: np.ndarray, bs: int = 32,
                        seq_len: int = 70) -> dict[str, float]:
    """Token-level cross-entropy and perplexity of `lm` on `texts` (stream layout, as in training)."""
    import torch.nn.functional as F
    dl = stream_loader(lm, texts, raw_features, bs, seq_len)
    if dl.n_batches < 1 or dl.bl < 1:
        raise ContextLMError(f"too little text to evaluate ({sum(dl.lens)} tokens for bs={bs})")
    model = lm.model.eval()
    model.reset()
    total, count = 0.0, 0
    for x, f, y in dl:
        logits = model(x, f if lm.conditioned else f[..., :0])[0]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.reset()
    loss = total / count
    return {"loss": loss, "perplexity": float(np.exp(loss)), "tokens": count}
