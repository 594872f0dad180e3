"""Validation on several processes: every rank scores its part, the metrics are summed over ranks.

- LM loaders: the rank's block of rows, the single-process layout (each row's recurrent state
  stays whole), when the rows split evenly; otherwise every rank scores everything (the
  summed totals and counts are then N times one process's: the same ratios).
- other loaders: whole batches round robin (batch i on rank i % N): no sentence twice, no
  padding, and every batch-wise estimate (the VAE's MI) as one process computes it.
- the plain model, not the DDP wrapper: ranks may score different numbers of batches, and
  DDP's forward would wait for the others.

Then each metric's accumulators are all-reduced: fastai's `AvgMetric`/`AvgLoss` and
contextlm's loss-term metrics keep sums in `total`/`count`; a metric with other state says
how to combine it with `reduce_across_ranks(learn, comm)`. A metric with neither is refused:
a figure silently computed on one rank's share is worse than an error.
"""
from __future__ import annotations

from typing import Any, Iterable

from ..errors import ContextLMError


class Comm:
    """The two collectives the reductions need, over the default process group."""

    @staticmethod
    def sum(value: Any) -> Any:
        """The sum over ranks, of the type given (a tensor stays a tensor: fastai's
        `Perplexity` takes `torch.exp` of its ratio)."""
        import torch
        import torch.distributed as dist
        t = torch.tensor(float(value), dtype=torch.float64)
        dist.all_reduce(t)
        if isinstance(value, torch.Tensor):
            return t.to(dtype=value.dtype, device=value.device)
        return float(t)

    @staticmethod
    def gather(obj: Any) -> list:
        import torch.distributed as dist
        out = [None] * dist.get_world_size()
        dist.all_gather_object(out, obj)
        return out


class ValidationShard:
    """The part of a validation loader one rank scores: every batch of an LM loader already
    sharded by rows (`world=1` here), or batches `rank, rank + world, ...` of another loader.

    Its values are never gathered per batch: fastai's `to_detach` all-gathers when a process
    group exists, assuming every rank holds an equal batch, which round robin does not give
    (a short last batch, or one batch fewer); the sums are reduced once, in `reduce_metrics`."""

    def __init__(self, dl, rank: int = 0, world: int = 1):
        self.dl, self.rank, self.world = dl, rank, world

    def __getattr__(self, name: str):
        return getattr(self.dl, name)

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dl), self.world))

    def __iter__(self):
        for i, b in enumerate(self.dl):
            if i % self.world == self.rank:
                yield b

    def to_detach(self, b, cpu: bool = True, gather: bool = True):
        from fastai.torch_core import to_detach
        return to_detach(b, cpu, gather=False)


def shard_validation(dl, rank: int, world: int):
    """`(loader this rank scores, undo)`; see the module docstring for the rule."""
    if hasattr(dl, "shard"):
        if getattr(dl, "streams", dl.bs) % world:  # every rank scores it all: N x the sums, same ratios
            return ValidationShard(dl), lambda: None
        return ValidationShard(dl.shard(rank, world)), lambda: dl.shard(0, 1)
    return ValidationShard(dl, rank, world), lambda: None


def reduce_terms(terms: dict[str, float]) -> dict[str, float]:
    """A VAE learner's `loss_terms` (sums over the batch's sentences) summed over the ranks in
    one all-reduce; `beta` is the same everywhere and kept."""
    import torch
    import torch.distributed as dist
    keys = [k for k in terms if k != "beta"]
    t = torch.tensor([float(terms[k]) for k in keys], dtype=torch.float64)
    dist.all_reduce(t)
    return {**terms, **dict(zip(keys, t.tolist()))}


def reduce_metrics(metrics: Iterable, learn, comm=Comm) -> None:
    """Sum every metric's accumulators over the ranks, in place (same values on every rank)."""
    for m in metrics:
        rule = getattr(m, "reduce_across_ranks", None)
        if rule is not None:
            rule(learn, comm)
        elif hasattr(m, "total") and hasattr(m, "count"):
            m.total, m.count = comm.sum(m.total), comm.sum(m.count)
        else:
            raise ContextLMError(f"metric {getattr(m, 'name', type(m).__name__)!r} has no rule to combine it over "
                                 f"processes (give it total/count sums or reduce_across_ranks)")
