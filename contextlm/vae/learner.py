"""`VAELearner`: a fastai `Learner` for sentence VAEs that speaks text.

    dls = sentence_dataloaders(df, tokenizer="whitespace", max_len=40)
    learn = vae_learner(dls, config=dict(latent_sz=16, word_dropout=0.3), cbs=KLAnnealing("cyclical"))
    learn.fit_one_cycle(10, 3e-3)
    learn.reconstruct(["it was my turn"], method="beam")
    learn.interpolate("he was silent for a long moment", "it was my turn", steps=8, path="slerp")
    learn.save_model("runs/vae"); learn = load_vae_learner("runs/vae")

Conditioned models take the condition as users write it: `features={"energy": 0.9}` (or a
raw feature matrix, scaled with the saved scaler) or label names. A CVAE converts by
encoding with one label and decoding with another:
`learn.reconstruct(["abandon"], cond="sp", dec_cond="past", method="beam")`.

Training is plain fastai (`fit_one_cycle`, callbacks, Recorder). The loss is the learner's
own `elbo_loss`: recon + `learn.kl_weight` * KL (with `learn.free_bits`); the KL weight is
set by `KLAnnealing`, and the unweighted terms of the last batch are kept in
`learn.loss_terms`, where the metrics and the history read them (as fastai keeps `learn.loss`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
import fastai.callback.progress  # noqa: F401  (fastprogress bars, as in any fastai Learner)
import fastai.callback.schedule  # noqa: F401  (Learner.fit_one_cycle, lr_find)
from fastai.data.core import DataLoaders
from fastai.learner import Learner
from fastcore.basics import listify

from .callbacks import VAEHistory, vae_metrics
from ..conditioning import Condition
from ..data.tokens import Vocab
from .data import pad_batch
from ..errors import ContextLMError
from ..modelio import load_model_folder, load_state_strict, save_model_folder
from .config import VAEConfig
from .model import SentenceVAE, build_vae
from .objectives import check_free_bits, vae_loss

MODEL_KIND = "sentence-vae"
PATHS = ("lerp", "slerp")


class VAELearner(Learner):
    """Learner with text-level encode / reconstruct / sample / interpolate / neighbours."""

    def __init__(self, dls: DataLoaders, model: SentenceVAE, vocab: Vocab | None = None,
                 condition: Condition | None = None, max_len: int | None = None, free_bits: float = 0.0,
                 iw_samples: int = 0, metrics=None, cbs=None, **kwargs):
        self.vocab = vocab or getattr(dls, "vocab", None)
        if self.vocab is None:
            raise ContextLMError("VAELearner needs a vocab (sentence_dataloaders sets dls.vocab)")
        self.condition = condition or getattr(dls, "condition", None) or Condition()
        self.max_len = max_len or getattr(dls, "max_len", 30)
        self.free_bits = check_free_bits(free_bits)
        self.kl_weight = 1.0                      # beta: set by KLAnnealing before each training batch
        self.loss_terms: dict[str, float] = {}    # unweighted terms of the last batch (vae_loss)
        metrics = vae_metrics(iw_samples, model=model) if metrics is None else metrics
        cbs = [VAEHistory(), *listify(cbs)]
        super().__init__(dls, model, loss_func=self.elbo_loss, metrics=metrics, cbs=cbs, **kwargs)

    def elbo_loss(self, pred, targets: torch.Tensor) -> torch.Tensor:
        """recon + kl_weight * KL per sentence (batch mean); keeps the terms in `loss_terms`."""
        m = self.model  # under data parallelism the wrapper forwards these to the model
        loss, self.loss_terms = vae_loss(pred, targets, self.vocab.pad_id, self.kl_weight, self.free_bits,
                                         m.config.alpha, m.latent_groups(), m.kl_unit_dims())
        return loss

    # -- text <-> tensors -------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _tokens(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(texts, str):
            raise ContextLMError("give a list of texts, not a single string")
        if not len(texts):
            raise ContextLMError("no texts given")
        tokens, lengths = pad_batch(self.vocab.encode(list(texts), self.max_len), self.vocab.pad_id)
        return tokens.to(self.device), lengths

    def check_texts(self, texts: Sequence[str]) -> None:
        """Refuse a sentence a user gave that would encode to nothing: empty, or only unknown tokens."""
        if isinstance(texts, str):
            raise ContextLMError("give a list of texts, not a single string")
        for text, row in zip(texts, self.vocab.encode(list(texts), self.max_len)):
            if not row[1:-1]:
                raise ContextLMError(f"empty sentence {text!r}: nothing to encode")
            if all(i == self.vocab.unk_id for i in row[1:-1]):
                raise ContextLMError(f"sentence {text!r}: none of its tokens is in the model's vocabulary")

    def _cond(self, values: Any, n: int) -> torch.Tensor | None:
        cond = self.condition.encode(values, n)
        return None if cond is None else cond.to(self.device)

    def sentence_loader(self, texts: Sequence[str], cond: Any = None, bs: int = 64):
        """A `SentenceDL` over `texts` in this model's vocabulary and condition (features
        scaled with the saved scaler, labels by name): to evaluate a loaded model on new data."""
        from .data import SentenceDL
        if isinstance(texts, str) or not len(texts):
            raise ContextLMError("give a non-empty list of texts")
        ids = self.vocab.encode(list(texts), self.max_len)
        conds = self.condition.encode(cond, len(ids))
        rows = [None] * len(ids) if conds is None else (
            list(conds.numpy()) if conds.dtype.is_floating_point else conds.tolist())
        return SentenceDL(list(zip(ids, rows)), pad_id=self.vocab.pad_id, has_cond=conds is not None,
                          bs=min(bs, len(ids)), shuffle=False)

    # -- latent space -----------------------------------------------------------------
    @torch.no_grad()
    def encode(self, texts: Sequence[str], cond: Any = None, bs: int = 256,
               with_logvar: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Posterior means `[n, latent_sz]` of q(z|x) (and log-variances with `with_logvar`)."""
        if not self.model.config.use_latent:
            raise ContextLMError("this model is the LM baseline (no latent space): nothing to encode")
        self.model.eval()
        if isinstance(texts, str):
            raise ContextLMError("give a list of texts, not a single string")
        texts = list(texts)
        cond_all = self._cond(cond, len(texts))
        mus, lvs = [], []
        for s in range(0, len(texts), bs):
            tokens, lengths = self._tokens(texts[s:s + bs])
            mu, lv = self.model.encode(tokens, lengths, None if cond_all is None else cond_all[s:s + bs])
            mus.append(mu.cpu()), lvs.append(lv.cpu())
        mu, lv = torch.cat(mus), torch.cat(lvs)
        return (mu, lv) if with_logvar else mu

    @torch.no_grad()
    def decode(self, z: torch.Tensor | None, cond: Any = None, method: str = "greedy", n: int | None = None,
               **gen_kwargs) -> list[str]:
        """Texts decoded from latent codes `z` (`[n, latent_sz]`); `gen_kwargs` go to
        `SentenceVAE.generate` (temperature, top_k, beam_size, max_len)."""
        self.model.eval()
        n = len(z) if z is not None else n
        gen_kwargs.setdefault("max_len", self.max_len + 1)
        ids = self.model.generate(None if z is None else z.to(self.device), self._cond(cond, n),
                                  method=method, n=n, **gen_kwargs)
        return [self.vocab.decode(row) for row in ids]

    def reconstruct(self, texts: Sequence[str], method: str = "greedy", cond: Any = None, dec_cond: Any = None,
                    **gen_kwargs) -> list[str]:
        """Decode each text's posterior mean (`dec_cond`: a different decoder condition,
        e.g. the target tense of a CVAE; defaults to `cond`)."""
        self.check_texts(texts)
        mu = self.encode(texts, cond)
        return self.decode(mu, cond if dec_cond is None else dec_cond, method, **gen_kwargs)

    def sample(self, n: int = 10, features: Any = None, label: Any = None, temperature: float = 1.0,
               method: str = "sample", component: int | None = None, **gen_kwargs) -> list[str]:
        """`n` sentences from the prior z ~ p(z) (one mixture `component` of a `gmm` prior),
        at the given features or label."""
        if n < 1:
            raise ContextLMError(f"n={n}: must be >= 1")
        if features is not None and label is not None:
            raise ContextLMError("give features or a label, not both")
        if component is not None and not self.model.config.use_latent:
            raise ContextLMError("component: this model is the LM baseline (no latent space, no prior)")
        z = self.model.sample_prior(n, component) if self.model.config.use_latent else None
        return self.decode(z, features if features is not None else label, method, n=n,
                           temperature=temperature, **gen_kwargs)

    def interpolate(self, s0: str, s1: str, steps: int = 8, path: str = "lerp", method: str = "greedy",
                    cond: Any = None, **gen_kwargs) -> pd.DataFrame:
        """Homotopy (Bowman et al. 2016): decode `steps` points from the mean of s0 to the
        mean of s1 (both included), on a straight line (`lerp`) or a great circle (`slerp`)."""
        if path not in PATHS:
            raise ContextLMError(f"path={path!r}: expected one of {', '.join(PATHS)}")
        if steps < 2:
            raise ContextLMError(f"steps={steps}: need at least 2 (the two endpoints)")
        self.check_texts([s0, s1])
        mu = self.encode([s0, s1], cond)
        t = torch.linspace(0, 1, steps)
        z = slerp(mu[0], mu[1], t) if path == "slerp" else torch.lerp(mu[0], mu[1], t.unsqueeze(1))
        texts = self.decode(z, cond, method, **gen_kwargs)
        return pd.DataFrame({"t": t.tolist(), "text": texts})

    def neighbours(self, text: str, k: int = 5, cond: Any = None, pool: Sequence[str] | None = None,
                   pool_cond: Any = None) -> pd.DataFrame:
        """The `k` training sentences (or `pool`) closest to `text` by cosine of posterior means.
        Training sentences are encoded with their own condition; a `pool` with `pool_cond`
        (default: `cond`)."""
        if k < 1:
            raise ContextLMError(f"k={k}: must be >= 1")
        if pool is None:
            frame = vars(self.dls).get("frames", {}).get("train")  # absent on a learner loaded without data
            if frame is None:
                raise ContextLMError("neighbours: no training sentences loaded; pass pool=[...] texts")
            frame = frame.drop_duplicates(self.dls.text_col)
            pool, pool_cond = frame[self.dls.text_col].tolist(), self.frame_condition(frame)
        elif pool_cond is None:
            pool_cond = cond
        sims = F.cosine_similarity(self.encode([text], cond), self.encode(list(pool), pool_cond), dim=-1)
        top = sims.topk(min(k, len(pool)))
        return pd.DataFrame({"text": [pool[i] for i in top.indices.tolist()], "cosine": top.values.tolist()})

    def frame_condition(self, frame: pd.DataFrame) -> Any:
        """The condition values of a sentence table (`dls.frames[split]`) as the text methods take them."""
        kind = self.condition.kind
        if kind == "features":
            return frame[self.condition.names].to_numpy()
        if kind == "labels":
            return frame[self.dls.label_col].astype(str).tolist()
        return None

    # -- model folders ------------------------------------------------------------------
    def model_config(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"model": self.model.config.to_dict(), "vocab": self.vocab.to_dict(),
                "condition": self.condition.to_dict(), "max_len": self.max_len,
                "free_bits": self.free_bits, **(extra or {})}

    model_kind = MODEL_KIND

    def save_model(self, path: str | Path, extra: dict[str, Any] | None = None, overwrite: bool = False) -> Path:
        """State dict + JSON config (vocab, condition, hyperparameters) as the model folder
        `path`, written atomically; an existing folder is replaced only with `overwrite`."""
        return save_model_folder(path, self.model_kind, self.model, self.model_config(extra), overwrite=overwrite)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation `[len(t), d]`; falls back to lerp for (anti)parallel codes."""
    t = t.unsqueeze(1)
    cos = F.cosine_similarity(z0, z1, dim=0).clamp(-1, 1)
    omega = torch.arccos(cos)
    if omega.abs() < 1e-4 or (torch.pi - omega).abs() < 1e-4:
        return torch.lerp(z0, z1, t)
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def new_vae(dls: DataLoaders, base: dict[str, Any], config: dict[str, Any] | None = None) -> SentenceVAE:
    """A fresh family member (`config["arch"]`) sized for `dls`: vocabulary, special ids and
    the fixed sentence length of convolutional models and feature maps (`dls.max_len`
    tokens plus <bos> and <eos>) come from the data, the rest from `base` < `config`."""
    data = dict(vocab_sz=len(dls.vocab), **dls.vocab.special_ids(), seq_len=getattr(dls, "max_len", 30) + 2)
    return build_vae(VAEConfig.from_dict({**data, **base, **(config or {})}))


def vae_learner(dls: DataLoaders, config: dict[str, Any] | None = None, free_bits: float = 0.0,
                iw_samples: int = 0, **kwargs: Any) -> VAELearner:
    """A `VAELearner` with a fresh VAE sized for `dls` (vocab, special ids, condition), like
    fastai's `language_model_learner(dls, arch, config=...)`: `config` overrides `VAEConfig`
    fields (arch, latent_sz, word_dropout, use_latent...); other keywords (cbs, metrics,
    path, wd...) go to the `Learner`."""
    model = new_vae(dls, dls.condition.model_kwargs(), config)
    return VAELearner(dls, model, free_bits=free_bits, iw_samples=iw_samples, **kwargs)


def read_vae_folder(path: str | Path, kind: str = MODEL_KIND) -> tuple[SentenceVAE, Vocab, Condition, dict]:
    """Model (weights loaded), vocab, condition and config of a VAE-family model folder."""
    state, cfg = load_model_folder(path, kind)
    try:
        model = build_vae(VAEConfig.from_dict(cfg["model"]))
        vocab = Vocab.from_dict(cfg["vocab"])
        condition = Condition.from_dict(cfg.get("condition", {}))
    except (KeyError, TypeError) as e:
        raise ContextLMError(f"{path}: config.json lacks or garbles {e} (not written by save_model?)") from None
    load_state_strict(model, state, path)
    return model, vocab, condition, cfg


def load_vae_learner(path: str | Path, dls: DataLoaders | None = None, **kwargs: Any) -> VAELearner:
    """A `VAELearner` from a model folder written by `save_model` (with `dls` to train on
    or to find neighbours among; without, for encoding, sampling and decoding)."""
    model, vocab, condition, cfg = read_vae_folder(path)
    return VAELearner(dls if dls is not None else DataLoaders(), model, vocab=vocab, condition=condition,
                      max_len=cfg.get("max_len"), free_bits=cfg.get("free_bits", 0.0), **kwargs)
