"""Learners for the conditioned language model, and the trained model as a folder.

    dls   = lm_dataloaders(load_corpus("reviews.csv", feature_cols=["energy"]))
    learn = context_language_model_learner(dls, config=dict(emb_sz=200, n_hid=400, n_layers=2))
    learn.fit_one_cycle(4, 3e-3)
    learn.save_folder("runs/lm")           # model.pth + config.json, no pickle
    lm = load_lm("runs/lm")
    lm.generate(20, features={"energy": 0.9}, labels={"playlist_genre": "rock"}, guidance=1.5)

`use_features=False` trains the unconditioned twin through the same code and data:
the loader still yields the context, the model has none and ignores it (and so does
its `TrainedLM`, which still checks the values it is given).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import fastai.callback.all  # noqa: F401  (fit_one_cycle, progress bars, CSVLogger: as `from fastai.text.all import *` gives)
from fastai.basics import CrossEntropyLossFlat, accuracy
from fastai.metrics import Perplexity
from fastai.text.learner import TextLearner

from ..conditioning import Condition
from ..data.corpus import FeatureScaler, as_rows
from ..data.tokens import BOS_ID, PAD_ID, Vocab, detokenize, tokenize
from ..errors import ContextLMError, ModelFolderError
from ..modelio import load_model_folder, load_state_strict, save_model_folder
from .model import DEFAULT_LM_CONFIG, ContextLanguageModel, context_language_model, context_lm_split
from .sampling import sample_ids

Labels = Mapping[str, Any]  # label column -> one value (str) for every row, or one value per row


MODEL_KIND = "context-lm"


class ContextLMLearner(TextLearner):
    """fastai `TextLearner` (ModelResetter, RNNCallback, AR/TAR) for `ContextLanguageModel`,
    which can save itself as a model folder and sample text."""

    def trained_lm(self) -> "TrainedLM":
        """The inference view of this learner (shares the model)."""
        dls = self.dls
        return TrainedLM(self.model, Vocab(dls.vocab), list(dls.feature_names), dls.scaler,
                         dict(dls.feature_stats), dict(self.arch_config), train_data=getattr(self, "train_data", None),
                         label_names=dict(getattr(dls, "label_names", None) or {}))

    def save_folder(self, path: str | Path, extra: dict | None = None, overwrite: bool = False) -> Path:
        """Save weights + JSON config (vocab, features, labels, scaling, hyperparameters) to `path`."""
        return self.trained_lm().save(path, extra, overwrite=overwrite)

    def generate(self, n: int = 1, features: Mapping[str, float] | None = None, labels: Labels | None = None,
                 **kwargs) -> list[str]:
        """Sample `n` texts at the given context; see `TrainedLM.generate`."""
        return self.trained_lm().generate(n, features, labels, **kwargs)


def context_language_model_learner(dls, use_features: bool = True, config: dict | None = None,
                                   drop_mult: float = 1.0, metrics=None, train_data: dict | None = None,
                                   **kwargs) -> ContextLMLearner:
    """Mirror of fastai's `language_model_learner` for the conditioned AWD-LSTM.

    The model reads `dls.feature_names` and `dls.label_names`; `use_features=False` builds
    the unconditioned baseline (exactly fastai's AWD-LSTM) over the same DataLoaders.
    `config` overrides `DEFAULT_LM_CONFIG` (fastai's `awd_lstm_lm_config` plus where the
    context enters); `label_sizes` always comes from the DataLoaders."""
    label_names = getattr(dls, "label_names", None) or {}
    n_features = len(dls.feature_names) if use_features else 0
    label_sizes = [len(names) for names in label_names.values()] if use_features else []
    arch_config = {**DEFAULT_LM_CONFIG, **(config or {}), "label_sizes": label_sizes}
    model = context_language_model(len(dls.vocab), n_features, arch_config, drop_mult)
    metrics = [accuracy, Perplexity()] if metrics is None else metrics
    learn = ContextLMLearner(dls, model, loss_func=CrossEntropyLossFlat(), splitter=context_lm_split,
                             metrics=metrics, **kwargs)
    learn.arch_config = {**arch_config, "drop_mult": drop_mult}
    learn.train_data = train_data
    return learn


@dataclass
class TrainedLM:
    """A trained conditioned LM with everything needed to use it on new text.

    Its context: numeric features (`feature_names`, given in raw units, scaled with
    `scaler`, unset ones at their training mean) and labels (`label_names`: column -> known
    values; unset ones are "unknown", a value never seen in training is an error)."""
    model: ContextLanguageModel
    vocab: Vocab
    feature_names: list[str]
    scaler: FeatureScaler
    feature_stats: dict[str, dict[str, float]]
    arch_config: dict[str, Any]
    train_data: dict | None = None
    extra: dict = field(default_factory=dict)
    label_names: dict[str, list[str]] = field(default_factory=dict)

    @property
    def conditioned(self) -> bool:
        return self.model.conditioned

    # -- context ----------------------------------------------------------------------
    @property
    def condition(self) -> Condition:
        """The model's feature context (names, training scaler and statistics)."""
        return Condition("features", self.feature_names, self.scaler.to_dict(), self.feature_stats)

    def feature_vector(self, features: Mapping[str, float] | None = None) -> np.ndarray:
        """Raw feature vector: `features` by name, the others at their training mean
        (the rules of `contextlm.conditioning`: impossible values are errors, values
        outside the training range warn)."""
        return self.condition.feature_vector(features)

    def label_ids(self, labels: Labels | None, n: int = 1) -> np.ndarray:
        """Label ids `(n, n_label_cols)`: `1 + index` of each value (one per column, or one
        per row); unset columns are 0 ("unknown"). A value or column never seen in training
        is a one-line error listing the known ones."""
        labels = dict(labels or {})
        if unknown := [c for c in labels if c not in self.label_names]:
            raise ContextLMError(f"unknown label column {unknown[0]!r} (this model knows: "
                                 f"{', '.join(self.label_names) or 'none'})")
        out = np.zeros((n, len(self.label_names)), np.float32)
        for j, (col, names) in enumerate(self.label_names.items()):
            if col not in labels:
                continue
            value = labels[col]
            values = [value] * n if isinstance(value, (str, int, float, np.generic)) else list(value)
            if len(values) != n:
                raise ContextLMError(f"label column {col!r}: {len(values)} values for {n} rows")
            known = Condition("labels", names)
            try:
                out[:, j] = [known.label_id(str(v)) + 1 for v in values]
            except ContextLMError as e:
                raise ContextLMError(f"{col}: {e}") from None
        return out

    def context_rows(self, n: int, features: Mapping[str, float] | np.ndarray | None = None,
                     labels: Labels | None = None) -> torch.Tensor:
        """Context rows `(n, model.n_context)` as the model reads them: features by name
        (unset ones at their training mean) or raw rows (one, or one per row), scaled as in
        training; then label ids. An unconditioned model gets zero columns (the values are
        still checked)."""
        if features is None or isinstance(features, Mapping):
            raw = self.feature_vector(features)[None]
        else:
            raw = as_rows(features, len(self.feature_names))
        if len(raw) == 1 and n != 1:
            raw = np.repeat(raw, n, 0)
        if len(raw) != n:
            raise ContextLMError(f"features: {len(raw)} rows for {n} texts")
        rows = np.concatenate([self.scaler.transform(raw), self.label_ids(labels, n)], 1)
        return torch.from_numpy(rows)[:, :self.model.n_context]

    # -- sampling ---------------------------------------------------------------------
    def generate_tokens(self, n: int = 1, features: Mapping[str, float] | None = None, labels: Labels | None = None,
                        *, max_len: int = 60, temperature: float = 1.0, top_k: int | None = None,
                        top_p: float | None = None, no_unk: bool = True, seed: int | None = None, prefix: str = "",
                        bs: int = 256, progress: bool = False, guidance: float = 1.0,
                        min_p: float | None = None) -> list[list[str]]:
        """Sample `n` documents as fastai token lists, `bs` sequences at a time.
        `min_p` keeps the tokens at least that times as likely as the top one. `guidance` W mixes
        `null + W * (cond - null)` over the tokens with conditional probability >= min_p (0.1
        if not given) x the top token's (see `sample_ids`); W = 1 is the plain model."""
        if n < 0 or max_len < 1:
            raise ContextLMError(f"n must be >= 0 and max_len >= 1 (got n={n}, max_len={max_len})")
        ctx = self.context_rows(1, features, labels).expand(n, -1)
        prefix_ids = self.vocab.numericalize(tokenize([prefix])[0]).tolist() if prefix.strip() else [BOS_ID]
        gen = torch.Generator(device=next(self.model.parameters()).device)
        gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**31, ()).item()))
        starts = range(0, n, bs)
        if progress:
            from fastprogress.fastprogress import progress_bar
            starts = progress_bar(starts, leave=False)
        out = []
        for start in starts:
            ids = sample_ids(self.model, prefix_ids, ctx[start:start + bs], max_len, temperature, top_k, top_p,
                             no_unk, banned_ids=self.vocab.never_sampled, generator=gen, guidance=guidance,
                             min_p=min_p)
            out += [self.vocab.textify(prefix_ids[1:] + row) for row in ids]
        return out

    def generate(self, n: int = 1, features: Mapping[str, float] | None = None, labels: Labels | None = None,
                 **kwargs) -> list[str]:
        """Sample `n` readable texts at `features` (raw units; unnamed features are held
        at their training mean) and `labels` (e.g. `{"playlist_genre": "rock"}`).
        Keywords: see `generate_tokens` (`guidance`, `temperature`, `top_p`, `seed`, ...)."""
        return [detokenize(t) for t in self.generate_tokens(n, features, labels, **kwargs)]

    @torch.no_grad()
    def log_prob(self, texts: Sequence[str], features: Mapping[str, float] | np.ndarray | None = None,
                 labels: Labels | None = None, bs: int = 64) -> tuple[float, int]:
        """Total natural-log probability of `texts` and the number of tokens scored, each
        text read as the sampler writes one: from a fresh state, `xxbos`, its tokens, then
        the `xxbos` that ends it (scored too). `exp(-total / count)` is the perplexity, e.g.
        of samples under the unconditioned twin (fluency). Context as in `context_rows`."""
        docs = [self.vocab.numericalize(t).tolist() + [BOS_ID] for t in tokenize(list(texts))]
        ctx = self.context_rows(len(docs), features, labels)
        model = self.model.eval()
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(docs), bs):
            chunk = docs[start:start + bs]
            width = max(map(len, chunk))
            ids = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
            for i, doc in enumerate(chunk):
                ids[i, :len(doc)] = torch.tensor(doc)
            ids = ids.to(device)
            scored = torch.arange(width - 1) < torch.tensor([len(d) - 1 for d in chunk])[:, None]
            model.reset()
            rows = ctx[start:start + bs].to(device)[:, None].expand(-1, width - 1, -1)
            logp = model(ids[:, :-1], rows)[0].float().log_softmax(-1)
            logp = logp.gather(-1, ids[:, 1:, None]).squeeze(-1)
            total += logp[scored.to(device)].sum().item()
            count += int(scored.sum())
        model.reset()
        return total, count

    # -- folders ----------------------------------------------------------------------
    def folder_config(self, extra: dict | None = None) -> dict[str, Any]:
        """The JSON config of this model's folder (for `modelio.write_model_files`)."""
        return {"arch": self.arch_config, "n_features": self.model.n_features, "vocab": self.vocab.itos,
                "feature_names": self.feature_names, "label_names": self.label_names,
                "scaler": self.scaler.to_dict(), "feature_stats": self.feature_stats, "train_data": self.train_data,
                "extra": {**self.extra, **(extra or {})}}

    def save(self, path: str | Path, extra: dict | None = None, overwrite: bool = False) -> Path:
        """Write the model folder `path` atomically; an existing model folder needs `overwrite`."""
        return save_model_folder(path, MODEL_KIND, self.model, self.folder_config(extra), overwrite=overwrite)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "TrainedLM":
        state, cfg = load_model_folder(path, MODEL_KIND)
        try:
            arch = {**DEFAULT_LM_CONFIG, **cfg["arch"]}  # a folder from before a key existed gets its default
            model = context_language_model(len(cfg["vocab"]), int(cfg["n_features"]),
                                           {k: v for k, v in arch.items() if k != "drop_mult"})
            vocab, scaler = Vocab(cfg["vocab"]), FeatureScaler.from_dict(cfg["scaler"])
            names, stats = list(cfg["feature_names"]), dict(cfg["feature_stats"])
            label_names = {str(c): [str(v) for v in vals] for c, vals in (cfg.get("label_names") or {}).items()}
            if model.label_sizes and model.label_sizes != [len(v) for v in label_names.values()]:
                raise ValueError(f"label_names {list(label_names)} do not match arch label_sizes {model.label_sizes}")
        except (KeyError, TypeError, ValueError) as e:
            raise ModelFolderError(f"{path}: config.json is incomplete or inconsistent ({type(e).__name__}: {e})") from None
        load_state_strict(model, state, path)
        model.eval()
        if device is not None:
            model.to(device)
        return cls(model, vocab, names, scaler, stats, arch, cfg.get("train_data"), cfg.get("extra") or {}, label_names)


def load_lm(path: str | Path, device: str | torch.device | None = None) -> TrainedLM:
    """Load a model folder written by `ContextLMLearner.save_folder` / `contextlm train lm`."""
    return TrainedLM.load(path, device)


def stream_loader(lm: TrainedLM, texts: Sequence[str], raw_features: np.ndarray, bs: int = 32, seq_len: int = 70,
                  labels: Mapping[str, Sequence[Any]] | None = None):
    """A non-shuffled LM loader over new texts, numericalized, scaled and label-encoded as
    `lm` was trained (a label value training never saw becomes "unknown", as in training)."""
    from .data import context_table, lm_loader
    ids = [lm.vocab.numericalize(t) for t in tokenize(list(texts))]
    raw = np.asarray(raw_features, np.float32).reshape(len(ids), len(lm.feature_names))
    table = context_table(raw, lm.scaler, labels, lm.label_names if lm.model.label_sizes else {})
    device = next(lm.model.parameters()).device
    return lm_loader(ids, table, bs=bs, seq_len=seq_len, shuffle=False, device=device)


@torch.no_grad()
def evaluate_perplexity(lm: TrainedLM, texts: Sequence[str], raw_features: np.ndarray, bs: int = 32,
                        seq_len: int = 70, labels: Mapping[str, Sequence[Any]] | None = None) -> dict[str, float]:
    """Token-level cross-entropy and perplexity of `lm` on `texts` (stream layout, as in
    training). A labelled model needs `labels`: column -> one value per text (a DataFrame works)."""
    import torch.nn.functional as F
    dl = stream_loader(lm, texts, raw_features, bs, seq_len, labels)
    if dl.n_batches < 1 or dl.bl < 1:
        raise ContextLMError(f"too little text to evaluate ({sum(dl.lens)} tokens for bs={bs})")
    model = lm.model.eval()
    model.reset()
    total, count = 0.0, 0
    for x, c, y in dl:
        logits = model(x, c)[0]
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="sum").item()
        count += y.numel()
    model.reset()
    loss = total / count
    return {"loss": loss, "perplexity": float(np.exp(loss)), "tokens": count}
