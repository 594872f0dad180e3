"""Decoding a sentence VAE: greedy, sampling (temperature, top-k, top-p) and beam search.

Batched over the carried decoder state: one decoder step per position for the whole batch
(and all beams), through the model's `decoder_memory` / `initial_state` / `next_logits` /
`reorder_state`. A decoder that does not read its own previous token (the CNN VAE's
deconvolution, `model.autoregressive = False`) gives every position's logits at once:
greedy and sampling pick per position, and beam search equals greedy there (the positions
are independent given z), so it is answered by greedy. The logits filter is the one the
language model uses (`contextlm.logits.filter_logits`).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from ..logits import filter_logits
from .config import VAEConfigError

GENERATION_METHODS = ("greedy", "sample", "beam")


@torch.no_grad()
def generate(model, z: Tensor | None, cond: Tensor | None = None, method: str = "greedy", max_len: int = 30,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             min_p: float | None = None, beam_size: int = 5,
             length_penalty: float = 1.0, n: int | None = None) -> list[list[int]]:
    """Decode one sentence per row of `z` (or `n` sentences for the LM baseline with z=None).

    Returns id lists without <bos>/<eos>."""
    if method not in GENERATION_METHODS:
        raise VAEConfigError(f"method={method!r}: expected one of {', '.join(GENERATION_METHODS)}")
    if max_len < 1:
        raise VAEConfigError(f"max_len={max_len}: must be >= 1")
    if method == "sample" and temperature <= 0:
        raise VAEConfigError(f"temperature={temperature}: must be > 0 (use method='greedy' for argmax)")
    B = z.shape[0] if z is not None else (n if n is not None else (len(cond) if cond is not None else 1))
    z, c = model.context(z, cond, B)
    pick = partial(_pick, method=method, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
    if not model.autoregressive:
        return [strip(model, row) for row in pick(model.parallel_logits(z, c, max_len)).tolist()]
    if method == "beam":
        return beam_search(model, z, c, max_len, beam_size, length_penalty)
    cfg = model.config
    memory = model.decoder_memory(z, c)
    state = model.initial_state(memory)
    inp = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=model.out.weight.device)
    done = torch.zeros(B, dtype=torch.bool, device=inp.device)
    out = []
    for step in range(max_len):
        logits, state = model.next_logits(inp, state, memory, step)
        nxt = pick(logits).masked_fill(done, cfg.pad_id)
        out.append(nxt)
        done |= nxt == cfg.eos_id
        if done.all():
            break
        inp = nxt.unsqueeze(1)
    return [strip(model, row) for row in torch.stack(out, 1).tolist()]


def _pick(logits: Tensor, method: str, temperature: float, top_k, top_p, min_p) -> Tensor:
    """Token ids from logits `[..., V]`: argmax (greedy, beam), or a draw from the filtered
    distribution at `temperature` (sample)."""
    if method != "sample":
        return logits.argmax(-1)
    flat = filter_logits(logits.reshape(-1, logits.shape[-1]) / temperature, top_k, top_p, min_p)
    return torch.multinomial(F.softmax(flat, -1), 1).view(logits.shape[:-1])


def strip(model, ids: list[int]) -> list[int]:
    """Ids up to (not including) the first <eos> or <pad>."""
    cfg, res = model.config, []
    for i in ids:
        if i in (cfg.eos_id, cfg.pad_id):
            break
        res.append(i)
    return res


def beam_search(model, z: Tensor, c: Tensor, max_len: int, K: int, alpha: float) -> list[list[int]]:
    """Beam search over all B*K beams at once; finished beams only extend with <pad> at no cost.
    Final choice by log p / length**alpha (alpha=0: raw log-probability)."""
    if K < 1:
        raise VAEConfigError(f"beam_size={K}: must be >= 1")
    cfg, B, dev = model.config, z.shape[0], z.device
    V = cfg.vocab_sz
    memory = model.decoder_memory(z.repeat_interleave(K, 0), c.repeat_interleave(K, 0))
    state = model.initial_state(memory)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0
    inp = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long, device=dev)
    done = torch.zeros(B * K, dtype=torch.bool, device=dev)
    lengths = torch.zeros(B * K, device=dev)
    hist = torch.zeros(B * K, 0, dtype=torch.long, device=dev)
    for step in range(max_len):
        logits, state = model.next_logits(inp, state, memory, step)
        logp = F.log_softmax(logits, -1)
        logp[done] = float("-inf")
        logp[done, cfg.pad_id] = 0.0
        total = (scores.view(-1, 1) + logp).view(B, K * V)
        scores, flat = total.topk(K, dim=-1)
        beam, tok = flat // V, flat % V
        src = (beam + torch.arange(B, device=dev).unsqueeze(1) * K).view(-1)
        tok = tok.view(-1)
        hist = torch.cat([hist[src], tok.unsqueeze(1)], 1)
        lengths = lengths[src] + (~done[src]).float()
        done = done[src] | (tok == cfg.eos_id)
        state = model.reorder_state(state, src)
        inp = tok.unsqueeze(1)
        if done.all():
            break
    final = scores.view(-1) / lengths.clamp(min=1) ** alpha
    best = final.view(B, K).argmax(-1) + torch.arange(B, device=dev) * K
    return [strip(model, row) for row in hist[best].tolist()]
