"""The one logits filter both decoders sample through (the LM's sampler and the VAE's).

`top_k` keeps the k most likely tokens, `top_p` the smallest set whose probability
reaches p (nucleus sampling); None switches either off.
"""
from __future__ import annotations

import torch

from .errors import ContextLMError


def check_filter(top_k: int | None = None, top_p: float | None = None) -> None:
    """One-line errors for values that would silently switch a filter off or sample nothing."""
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise ContextLMError(f"top_k={top_k}: must be a whole number >= 1 (or None for no top-k filter)")
    if top_p is not None and not 0 < top_p <= 1:
        raise ContextLMError(f"top_p={top_p}: must be in (0, 1] (or None for no nucleus filter)")


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """`logits` with every token outside the top-k and/or the nucleus set to -inf."""
    check_filter(top_k, top_p)
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
