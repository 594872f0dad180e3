"""Batched sampling from a (feature-conditioned) language model.

All sequences of a batch advance together, one token per forward pass, with the
LSTM state carried between steps: the cost is one step per token, never a re-run
of the prefix (fastai's `LMLearner.predict` re-feeds the whole text every step).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ..data.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from ..logits import filter_logits


def keep_rows(model, rows: torch.Tensor) -> None:
    """Keep only `rows` of the AWD-LSTM's carried hidden state (the batch shrinks)."""
    encoder = model[0]
    encoder.hidden = [tuple(h[:, rows].contiguous() for h in layer) for layer in encoder.hidden]
    encoder.bs = len(rows)


@torch.no_grad()
def sample_ids(model, prefix: Sequence[int], features: torch.Tensor, max_len: int = 60, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, no_unk: bool = True,
               stop_ids: Sequence[int] = (BOS_ID, EOS_ID), banned_ids: Sequence[int] = (PAD_ID,),
               generator: torch.Generator | None = None, compact_below: float = 0.5) -> list[list[int]]:
    """Sample one continuation of `prefix` per row of `features` (shape `(n, n_features)`,
    already scaled). A row stops at the first of `stop_ids` (the next document's
    `xxbos` marks the end of this one) or after `max_len` tokens; stop tokens are
    not returned. Once fewer than `compact_below` of the running rows are still
    going, finished rows leave the batch (and the LSTM state), so a few long samples
    do not keep paying for many short ones."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    model.eval()
    model.reset()
    device = next(model.parameters()).device
    n = features.shape[0]
    feats = features.to(device).unsqueeze(1)  # (rows, 1, n_features)
    tokens = torch.tensor(list(prefix), dtype=torch.long, device=device).expand(n, -1).contiguous()
    banned = list(banned_ids) + ([UNK_ID] if no_unk else [])
    stop = torch.tensor(list(stop_ids), device=device)
    out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=device)
    lengths = torch.full((n,), max_len, dtype=torch.long, device=device)
    rows = torch.arange(n, device=device)  # original index of each row still in the batch
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for step in range(max_len):
        logits = model(tokens, feats.expand(-1, tokens.shape[1], -1))[0][:, -1].float()
        logits[:, banned] = float("-inf")
        logits = filter_logits(logits / temperature, top_k, top_p)
        nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
        out[rows, step] = nxt
        newly = torch.isin(nxt, stop) & ~done
        lengths[rows[newly]] = step
        done |= newly
        if done.all():
            break
        if (~done).float().mean() < compact_below:
            keep = (~done).nonzero().squeeze(1)
            keep_rows(model, keep)
            rows, nxt, feats, done = rows[keep], nxt[keep], feats[keep], done[keep]
        tokens = nxt.unsqueeze(1)
    model.reset()
    return [out[i, : lengths[i]].tolist() for i in range(n)]
