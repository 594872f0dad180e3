"""Batched sampling from a (context-conditioned) language model, with classifier-free guidance.

All sequences of a batch advance together, one token per forward pass, with the
LSTM state carried between steps: the cost is one step per token, never a re-run
of the prefix (fastai's `LMLearner.predict` re-feeds the whole text every step).

Guidance W (Sanchez et al. 2023): each row is run twice in the same batch, once with its
context and once with the null context (rows `n..2n-1`, each with its own carried state),
and the next token is drawn from `null + W * (cond - null)` of the two log-probabilities
(over the tokens that may be sampled at all), before temperature and top-k/top-p. W = 1 is the plain conditional
model and takes the plain path (no null rows): the same samples for the same seed.

Guidance alone boosts any token the context makes *relatively* likelier, also one both
passes find nearly impossible (log-probabilities -8 vs -12 become 0 at W = 3): samples
turn to word salad. So the mix is taken only over the tokens the conditional model itself
finds plausible, those with probability >= `min_p` x its most likely token's (the adaptive
plausibility constraint of contrastive decoding, Li et al. 2022; `GUIDED_MIN_P` unless
given); the rest get -inf. Without guidance `min_p` is the plain min-p filter.
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F

from ..data.tokens import BOS_ID, EOS_ID, PAD_ID, UNK_ID
from ..errors import ContextLMError
from ..logits import below_min_p, check_filter, filter_logits


def keep_rows(model, rows: torch.Tensor) -> None:
    """Keep only `rows` of the AWD-LSTM's carried hidden state (the batch shrinks)."""
    encoder = model[0]
    encoder.hidden = [tuple(h[:, rows].contiguous() for h in layer) for layer in encoder.hidden]
    encoder.bs = len(rows)


def check_guidance(model, guidance: float) -> bool:
    """Whether `guidance` needs the null-context pass; an error for an unconditioned model
    and a warning for one whose null context was never trained."""
    if not isinstance(guidance, (int, float)) or not math.isfinite(guidance):
        raise ContextLMError(f"guidance={guidance}: must be a finite number (1 = the plain conditional model)")
    if guidance == 1:
        return False
    if not model.conditioned:
        raise ContextLMError(f"guidance={guidance:g} needs a conditioned model; this one has no context")
    if not model.has_null_context:
        warnings.warn(f"guidance={guidance:g}: this model was trained without context dropout, so its null context "
                      "(zeros: mean features, unknown labels) was never trained", stacklevel=3)
    return True


GUIDED_MIN_P = 0.1  # guided sampling's plausibility floor when none is given


def mix_guidance(logits: torch.Tensor, guidance: float, min_p: float = GUIDED_MIN_P) -> torch.Tensor:
    """`null + W * (cond - null)` of log-probabilities over the tokens whose conditional
    probability is at least `min_p` x the largest (others -inf; 0 keeps every token);
    `logits` holds the conditional rows then the null rows."""
    check_filter(min_p=min_p)
    logp = logits.log_softmax(-1)
    cond, null = logp.chunk(2)
    return (null + guidance * (cond - null)).masked_fill(below_min_p(cond, min_p), float("-inf"))


@torch.no_grad()
def sample_ids(model, prefix: Sequence[int], context: torch.Tensor, max_len: int = 60, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None, no_unk: bool = True,
               stop_ids: Sequence[int] = (BOS_ID, EOS_ID), banned_ids: Sequence[int] = (PAD_ID,),
               generator: torch.Generator | None = None, compact_below: float = 0.5,
               guidance: float = 1.0, min_p: float | None = None) -> list[list[int]]:
    """Sample one continuation of `prefix` per row of `context` (shape `(n, n_context)`,
    already scaled). A row stops at the first of `stop_ids` (the next document's
    `xxbos` marks the end of this one) or after `max_len` tokens; stop tokens are
    not returned. Once fewer than `compact_below` of the running rows are still
    going, finished rows leave the batch (and the LSTM state), so a few long samples
    do not keep paying for many short ones. `guidance`: see the module docstring."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_filter(top_k, top_p, min_p)
    guided = check_guidance(model, guidance)
    copies = 2 if guided else 1  # the conditional rows, then (guided) the same rows with the null context
    model.eval()
    model.reset()
    device = next(model.parameters()).device
    n = context.shape[0]
    ctx = context.to(device).unsqueeze(1).repeat(copies, 1, 1)  # (copies * rows, 1, n_context)
    null = torch.arange(copies * n, device=device) >= n if guided else None
    tokens = torch.tensor(list(prefix), dtype=torch.long, device=device).expand(copies * n, -1).contiguous()
    banned = list(banned_ids) + ([UNK_ID] if no_unk else [])
    stop = torch.tensor(list(stop_ids), device=device)
    out = torch.full((n, max_len), PAD_ID, dtype=torch.long, device=device)
    lengths = torch.full((n,), max_len, dtype=torch.long, device=device)
    rows = torch.arange(n, device=device)  # original index of each row still in the batch
    done = torch.zeros(n, dtype=torch.bool, device=device)
    for step in range(max_len):
        logits = model(tokens, ctx.expand(-1, tokens.shape[1], -1), null=null)[0][:, -1].float()
        logits[:, banned] = float("-inf")  # first: the plausible set is taken among tokens that may be sampled
        if guided:
            logits = mix_guidance(logits, guidance, GUIDED_MIN_P if min_p is None else min_p)
        logits = filter_logits(logits / temperature, top_k, top_p, None if guided else min_p)
        nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
        out[rows, step] = nxt
        newly = torch.isin(nxt, stop) & ~done
        lengths[rows[newly]] = step
        done |= newly
        if done.all():
            break
        if (~done).float().mean() < compact_below:
            keep = (~done).nonzero().squeeze(1)
            state = torch.cat([keep + k * len(rows) for k in range(copies)])  # the same rows in every copy
            keep_rows(model, state)
            ctx, null = ctx[state], None if null is None else null[state]
            rows, nxt, done = rows[keep], nxt[keep], done[keep]
        tokens = nxt.repeat(copies).unsqueeze(1)
    model.reset()
    return [out[i, : lengths[i]].tolist() for i in range(n)]
