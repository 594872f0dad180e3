"""The one logits filter both decoders sample through (the LM's sampler and the VAE's).

`top_k` keeps the k most likely tokens, `top_p` the smallest set whose probability
reaches p (nucleus sampling), `min_p` the tokens at least min_p times as likely as the
most likely one (min-p sampling; the plausibility constraint of Li et al. 2022); None
switches each off.
"""
from __future__ import annotations

import math

import torch

from .errors import ContextLMError


def check_filter(top_k: int | None = None, top_p: float | None = None, min_p: float | None = None) -> None:
    """One-line errors for values that would silently switch a filter off or sample nothing."""
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise ContextLMError(f"top_k={top_k}: must be a whole number >= 1 (or None for no top-k filter)")
    if top_p is not None and not 0 < top_p <= 1:
        raise ContextLMError(f"top_p={top_p}: must be in (0, 1] (or None for no nucleus filter)")
    if min_p is not None and not 0 <= min_p < 1:
        raise ContextLMError(f"min_p={min_p}: must be in [0, 1) (or None for no min-p filter)")


def below_min_p(logits: torch.Tensor, min_p: float) -> torch.Tensor:
    """Where a token's probability is below `min_p` x the most likely token's."""
    logp = logits.log_softmax(-1)
    return logp < logp.max(-1, keepdim=True).values + math.log(min_p) if min_p > 0 else torch.zeros_like(logp).bool()


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None,
                  min_p: float | None = None) -> torch.Tensor:
    """`logits` with every token outside the top-k, the nucleus and the min-p set to -inf."""
    check_filter(top_k, top_p, min_p)
    if min_p:
        logits = logits.masked_fill(below_min_p(logits, min_p), float("-inf"))
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, int(top_k), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        drop_sorted = probs.cumsum(-1) - probs >= top_p  # keep the token that crosses top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits
