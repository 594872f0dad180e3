"""fastai callbacks and metrics for sentence VAEs.

- `KLAnnealing`: sets the KL weight beta (`learn.kl_weight`) before every training batch
  from the training progress (fastai's `ParamScheduler` only schedules optimizer
  hyperparameters, so beta needs its own callback). Schedules: `kl_beta`.
- `TeacherForcing`: lowers the model's teacher-forcing ratio over training.
- `VAEHistory`: per-batch recon / KL / beta of the training batches (for the plots).
- `vae_metrics()`: Recorder metrics. fastai's `Perplexity` is exp(loss), and the VAE
  loss holds beta * KL, so it means nothing here: these metrics report per-sentence
  reconstruction NLL, KL, -ELBO and the ELBO perplexity, and (at evaluation)
  the importance-weighted NLL and its perplexity, active units and mutual information.
"""
from __future__ import annotations

import math

import pandas as pd
import torch
from fastai.callback.core import Callback
from fastai.learner import Metric

from ..errors import ContextLMError
from .settings import SCHEDULES
from .objectives import active_units, iw_nll, mutual_information



class ScheduleError(ContextLMError, ValueError):
    """A KL or teacher-forcing schedule argument is invalid."""


def check_schedule(schedule: str, n_cycles: int = 4, ratio: float = 0.5, beta_max: float = 1.0,
                   warmup: float = 0.0) -> None:
    """Raise `ScheduleError` naming the first bad argument."""
    if schedule not in SCHEDULES:
        raise ScheduleError(f"unknown KL schedule {schedule!r} (use {', '.join(SCHEDULES)})")
    if int(n_cycles) != n_cycles or n_cycles < 1:
        raise ScheduleError(f"n_cycles={n_cycles}: must be a whole number >= 1")
    if not 0 < ratio <= 1:
        raise ScheduleError(f"ratio={ratio}: must be in (0, 1] (the share of a cycle spent increasing beta)")
    if beta_max < 0:
        raise ScheduleError(f"beta_max={beta_max}: must be >= 0")
    if not 0 <= warmup < 1:
        raise ScheduleError(f"warmup={warmup}: must be in [0, 1) (the share of training with beta = 0)")


def kl_beta(pct: float, schedule: str = "cyclical", n_cycles: int = 4, ratio: float = 0.5,
            beta_max: float = 1.0, warmup: float = 0.0) -> float:
    """KL weight at training progress `pct` in [0, 1]. Beta is 0 during the first `warmup`
    share of training (autoencoder pretraining, Li et al. 2019); then, with p the progress
    over the rest:
    - constant: beta_max;
    - linear: beta_max * min(1, p / ratio) (monotonic, Bowman et al. 2016);
    - logistic: beta_max / (1 + exp(-k (p - ratio / 2))), k = 2 ln(99) / ratio: 0.5 * beta_max
      at p = ratio / 2, 0.99 * beta_max at p = ratio;
    - cyclical: n_cycles repetitions of the linear ramp, each rising over the first `ratio`
      of its cycle then holding beta_max (Fu et al. 2019)."""
    check_schedule(schedule, n_cycles, ratio, beta_max, warmup)
    pct = min(max(pct, 0.0), 1.0)
    if pct < warmup:
        return 0.0
    p = (pct - warmup) / (1.0 - warmup)
    if schedule == "constant":
        return beta_max
    if schedule == "linear":
        return beta_max * min(1.0, p / ratio)
    if schedule == "logistic":
        k = 2 * math.log(99) / ratio
        return beta_max / (1.0 + math.exp(-k * (p - ratio / 2)))
    period = 1.0 / n_cycles
    tau = (p % period) / period if p < 1.0 else 1.0
    return beta_max * min(1.0, tau / ratio)


class KLAnnealing(Callback):
    """Set `learn.kl_weight` (beta) before each training batch (validation keeps the last beta)."""
    order = -5

    def __init__(self, schedule: str = "cyclical", n_cycles: int = 4, ratio: float = 0.5, beta_max: float = 1.0,
                 warmup: float = 0.0):
        check_schedule(schedule, n_cycles, ratio, beta_max, warmup)
        self.schedule, self.n_cycles, self.ratio, self.beta_max, self.warmup = schedule, n_cycles, ratio, beta_max, warmup

    def before_fit(self):
        if not hasattr(self.learn, "kl_weight"):
            raise ContextLMError("KLAnnealing needs a learner with a KL weight (a VAELearner: use vae_learner)")

    def beta_at(self, pct: float) -> float:
        return kl_beta(pct, self.schedule, self.n_cycles, self.ratio, self.beta_max, self.warmup)

    def before_batch(self):
        if self.training:
            self.learn.kl_weight = self.beta_at(self.learn.pct_train)

    def to_dict(self) -> dict:
        return dict(schedule=self.schedule, n_cycles=self.n_cycles, ratio=self.ratio, beta_max=self.beta_max,
                    warmup=self.warmup)


class TeacherForcing(Callback):
    """Move `model.teacher_forcing` linearly from `start` to `end` over the first `ratio` of
    training (scheduled sampling); the model decodes step by step while it is below 1."""
    order = -5

    def __init__(self, start: float = 1.0, end: float = 0.5, ratio: float = 1.0):
        for name, v in (("start", start), ("end", end)):
            if not 0 <= v <= 1:
                raise ScheduleError(f"teacher forcing {name}={v}: must be in [0, 1]")
        if not 0 < ratio <= 1:
            raise ScheduleError(f"teacher forcing ratio={ratio}: must be in (0, 1]")
        self.start, self.end, self.ratio = start, end, ratio

    def value_at(self, pct: float) -> float:
        return self.start + (self.end - self.start) * min(1.0, max(pct, 0.0) / self.ratio)

    def before_batch(self):
        if self.training:
            self.learn.model.teacher_forcing = self.value_at(self.learn.pct_train)

    def after_fit(self):
        self.learn.model.teacher_forcing = 1.0


class VAEHistory(Callback):
    """Per training batch: reconstruction NLL and KL per sentence and beta (`self.df`)."""
    order = 60
    _stateattrs = ("rows",)

    def __init__(self):
        self.rows: list[dict] = []

    def after_batch(self):
        last = getattr(self.learn, "loss_terms", None)
        if self.training and last:
            n = max(last["n_sent"], 1)
            self.rows.append(dict(iter=len(self.rows), epoch=self.learn.epoch, recon=last["recon"] / n,
                                  kl=last["kl"] / n, beta=last["beta"]))

    @property
    def df(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["iter", "epoch", "recon", "kl", "beta"])


class _LossTermMetric(Metric):
    """A ratio of sums of the loss terms the learner kept for the last batch (no recomputation)."""

    def __init__(self, name: str, num: tuple[str, ...], den: str, exp: bool = False):
        self._name, self.num, self.den, self.exp = name, num, den, exp

    def reset(self):
        self.total, self.count = 0.0, 0

    def accumulate(self, learn):
        last = learn.loss_terms
        self.total += sum(last[k] for k in self.num)
        self.count += last[self.den]

    @property
    def value(self):
        if not self.count:
            return None
        v = self.total / self.count
        return math.exp(min(v, 700.0)) if self.exp else v

    @property
    def name(self):
        return self._name


class LatentEvaluation:
    """Evaluation-only quantities, computed once per validation batch and read by several
    metrics: importance-weighted NLL (k samples), posterior means (active units) and
    the He et al. 2019 mutual-information estimate."""

    def __init__(self, iw_samples: int = 0, au_threshold: float = 0.01, chunk: int = 10):
        if iw_samples < 0:
            raise ContextLMError(f"iw_samples={iw_samples}: must be >= 0")
        self.iw_samples, self.au_threshold, self.chunk = iw_samples, au_threshold, chunk
        self.reset()

    def reset(self):
        self.iw, self.n_sent, self.n_tokens, self.mi_sum = 0.0, 0, 0, 0.0
        self.mus: list[torch.Tensor] = []
        self._seen, self._reduced = None, False

    def reduce_across_ranks(self, comm) -> None:
        """Data-parallel validation: sums over the ranks, every rank's posterior means (once,
        however many metrics read this evaluation)."""
        if self._reduced:
            return
        self.iw, self.mi_sum = comm.sum(self.iw), comm.sum(self.mi_sum)
        self.n_sent, self.n_tokens = int(comm.sum(self.n_sent)), int(comm.sum(self.n_tokens))
        self.mus = [m for rank in comm.gather(self.mus) for m in rank]
        self._reduced = True

    def update(self, learn):
        if self._seen == learn.iter:
            return
        self._seen = learn.iter
        tokens, lengths, *cond = learn.xb
        cond = cond[0] if cond else None
        mu, logvar = learn.pred[1], learn.pred[2]
        n = tokens.shape[0]
        self.mus.append(mu.detach().float().cpu())
        self.mi_sum += mutual_information(mu.detach().float(), logvar.detach().float()) * n
        self.n_sent += n
        self.n_tokens += int((tokens[:, 1:] != learn.model.config.pad_id).sum())
        if self.iw_samples:
            self.iw += float(iw_nll(learn.model, tokens, lengths, cond, k=self.iw_samples, chunk=self.chunk).sum())

    def active_units(self, dims: slice = slice(None)) -> int | None:
        return active_units(torch.cat(self.mus)[:, dims], self.au_threshold) if self.mus else None


class _LatentMetric(Metric):
    def __init__(self, ev: LatentEvaluation, name: str, fn):
        self.ev, self._name, self.fn = ev, name, fn

    def reset(self):
        self.ev.reset()

    def accumulate(self, learn):
        self.ev.update(learn)

    def reduce_across_ranks(self, learn, comm) -> None:
        self.ev.reduce_across_ranks(comm)

    @property
    def value(self):
        return self.fn(self.ev) if self.ev.n_sent else None

    @property
    def name(self):
        return self._name


def vae_metrics(iw_samples: int = 0, au_threshold: float = 0.01, model=None) -> list[Metric]:
    """Recorder metrics per validation epoch, per sentence in nats: `recon`, `kl`,
    `neg_elbo` (recon + KL, an upper bound on -log p(x)), `elbo_ppl` (exp of -ELBO per
    target token, <eos> included), `au` (active units), `mi` (mutual information), and,
    when `iw_samples` > 0, `iw_nll` and `iw_ppl` (importance-weighted, k = iw_samples).
    With a `model`: the Hybrid VAE's auxiliary recon NLL (`aux`) and, for a model with
    named latent groups (the Ladder VAE's layers), `kl_<layer>` and `au_<layer>` each."""
    ev = LatentEvaluation(iw_samples, au_threshold)
    mets: list[Metric] = [
        _LossTermMetric("recon", ("recon",), "n_sent"),
        _LossTermMetric("kl", ("kl",), "n_sent"),
        _LossTermMetric("neg_elbo", ("recon", "kl"), "n_sent"),
        _LossTermMetric("elbo_ppl", ("recon", "kl"), "n_tokens", exp=True),
    ]
    groups = model.latent_groups() if model is not None else {}
    if model is not None and model.config.arch == "hybrid":
        mets.append(_LossTermMetric("aux", ("aux",), "n_sent"))
    for name, (_, dims) in groups.items():
        mets += [_LossTermMetric(f"kl_{name}", (f"kl_{name}",), "n_sent"),
                 _LatentMetric(ev, f"au_{name}", lambda e, d=dims: e.active_units(d))]
    if iw_samples:
        mets += [_LatentMetric(ev, "iw_nll", lambda e: e.iw / e.n_sent),
                 _LatentMetric(ev, "iw_ppl", lambda e: math.exp(min(e.iw / max(e.n_tokens, 1), 700.0)))]
    mets += [_LatentMetric(ev, "au", LatentEvaluation.active_units),
             _LatentMetric(ev, "mi", lambda e: e.mi_sum / e.n_sent)]
    return mets
