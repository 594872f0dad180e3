"""What a sentence VAE is trained and judged by: pure functions of tensors.

- `kl_divergence`, `gaussian_log_density`, `sequence_nll`: the pieces;
- `vae_loss`: recon + beta * KL with free bits, and the unweighted terms of the batch
  (the learner keeps them as `learn.loss_terms` for the metrics and the history);
- `iw_nll` (Burda et al. 2016), `mutual_information` (He et al. 2019), `active_units`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import VAEConfigError


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per dimension, `[B, d]` (closed form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def sequence_nll(logits: Tensor, targets: Tensor, pad_id: int) -> Tensor:
    """-log p(x|z) per sentence `[B]`: cross-entropy summed over non-pad target tokens."""
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                          ignore_index=pad_id, reduction="none")
    return nll.view(targets.shape).sum(1)


def vae_loss(pred: tuple[Tensor, ...], targets: Tensor, pad_id: int, beta: float = 1.0,
             free_bits: float = 0.0, alpha: float = 0.0,
             groups: dict[str, tuple[slice, slice]] | None = None,
             unit_dims: Tensor | None = None) -> tuple[Tensor, dict[str, float]]:
    """`(loss, terms)`: the batch-mean recon NLL + beta * KL per sentence (+ alpha * the
    auxiliary recon NLL of a Hybrid VAE), and the unweighted sums of the batch (`recon`,
    `kl`, `aux` when there is one, `kl_<group>` per named latent group, `n_sent`,
    `n_tokens`, `beta`) for metrics and history.

    `pred` is the model's `(logits, mu, logvar, kl, aux)`: KL comes per unit (a latent
    dimension in closed form, a position or layer by Monte Carlo). `free_bits` (Kingma et
    al. 2016, as used by Li et al. 2019) is a floor per latent dimension on the batch-mean
    KL: a unit covering `unit_dims` dimensions (a Monte Carlo unit covers a whole position's
    or layer's; default 1 each) costs at least `free_bits * unit_dims` and gets no KL
    gradient below it, so the encoder can use it without being pushed to the prior."""
    check_free_bits(free_bits)
    logits, _, _, kl_units, aux = pred
    recon = sequence_nll(logits, targets, pad_id)
    kl = kl_units.sum(-1)
    if free_bits:
        floor = free_bits * (unit_dims.to(kl_units) if unit_dims is not None else torch.ones_like(kl_units[0]))
        kl_term = torch.maximum(kl_units.mean(0), floor).sum()
    else:
        kl_term = kl.mean()
    terms = dict(recon=float(recon.detach().sum()), kl=float(kl.detach().sum()), n_sent=len(targets),
                 n_tokens=int((targets != pad_id).sum()), beta=float(beta))
    for name, (units, _) in (groups or {}).items():
        terms[f"kl_{name}"] = float(kl_units[:, units].detach().sum())
    loss = recon.mean() + beta * kl_term
    if aux.numel():
        aux_nll = sequence_nll(aux, targets, pad_id)
        terms["aux"] = float(aux_nll.detach().sum())
        loss = loss + alpha * aux_nll.mean()
    return loss, terms


def check_free_bits(free_bits: float) -> float:
    """`free_bits` if it is a valid KL floor (>= 0 nats per dimension), else a one-line error."""
    if not free_bits >= 0:
        raise VAEConfigError(f"free_bits={free_bits}: must be >= 0 (nats per latent dimension)")
    return free_bits


@torch.no_grad()
def iw_nll(model, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None,
           k: int = 50, chunk: int = 10) -> Tensor:
    """Importance-weighted estimate of -log p(x) per sentence (Burda et al. 2016):
    -log mean_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), with p(z)/q(z|x) from the model's
    `infer` (any prior, any number of layers). Never above -ELBO in expectation; tighter as
    k grows. Exact -log p(x) for the LM baseline."""
    if k < 1:
        raise VAEConfigError(f"k={k}: importance samples must be >= 1")
    B = tokens.shape[0]
    targets, tokens_in = tokens[:, 1:], tokens[:, :-1]
    if not model.config.use_latent:
        return sequence_nll(model.decode(None, tokens_in, cond), targets, model.config.pad_id)
    log_w = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        post = model.infer(tokens, lengths, cond, n_samples=m)     # codes [m*B, d], sample-major
        cond_r = None if cond is None else cond.repeat(m, *([1] * (cond.dim() - 1)))
        logits = model.decode(post.z, tokens_in.repeat(m, 1), cond_r)
        log_px_z = -sequence_nll(logits, targets.repeat(m, 1), model.config.pad_id)
        log_w.append((log_px_z - post.log_ratio).view(m, B))
    log_w = torch.cat(log_w, 0)
    return -(torch.logsumexp(log_w, 0) - math.log(k))


def mutual_information(mu: Tensor, logvar: Tensor) -> float:
    """I(x; z) under q, estimated as in He et al. 2019 (`calc_mi`): the negative entropy
    of q(z|x) minus E log q(z), with the aggregate posterior q(z) approximated by the
    mixture of this batch's posteriors. Bounded by log(batch size)."""
    B, d = mu.shape
    if d == 0 or B < 2:
        return 0.0
    neg_entropy = (-0.5 * d * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
    z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)                          # [B, d]
    log_dens = gaussian_log_density(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # [B(z), B(x)]
    log_qz = torch.logsumexp(log_dens, dim=1) - math.log(B)
    return float(neg_entropy - log_qz.mean())


def active_units(mus: Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across sentences: Cov_x(E_q[z_u]) > threshold
    (Burda et al. 2016)."""
    if mus.shape[1] == 0 or mus.shape[0] < 2:
        return 0
    return int((mus.float().var(0) > threshold).sum())
