"""Where training runs: the device, the precision and data-parallel processes.

    rt = start_runtime(RuntimeSettings(device="auto", precision="bf16"))   # before any loader is built
    learn = train_lm(corpus, s, cbs=rt.callbacks())                       # or train_vae / train_tense_cvae
    if is_main(): save_lm_run(...)                                         # only rank 0 writes

Launch: `accelerate launch [--cpu] --num_processes N -m contextlm train lm ...` or
`torchrun --nproc_per_node N -m contextlm train lm ...`; both set RANK / WORLD_SIZE, which is
all this module reads. One process is the plain single-process path (no wrapping at all).

Why our own thin callback (`DataParallel`) and not fastai's `learn.distrib_ctx()`: fastai's
`DistributedDL` broadcasts the batch order with `LongTensor(idxs).cuda()` (NCCL only: it fails
on CPU / gloo, where our tests and two-core machines run), and it gives each rank a contiguous
half of the *batches* with all `bs` streams, so rank 1 starts in the middle of every LM stream
with a reset hidden state. We keep what fastai gets right and use the same engine: accelerate
builds the process group (gloo on CPU, NCCL on GPUs; it reads every launcher's environment), the
model is wrapped in torch's DDP (`find_unused_parameters`: a label embedding, the null context or
the VAE without z may take no gradient in a batch; attributes forwarded to the model, which the
VAE's loss and callbacks read and set on `learn.model`); fastai's
`maybe_gather` still averages the smoothed training loss over ranks.

Sharding, so one epoch on N ranks equals one epoch of one process with the same global `bs`:
- LM: fastai lays the corpus out as `bs` rows (streams); rank k reads rows
  `[k*bs/N, (k+1)*bs/N)` of every batch (`ContextLanguageModelLoader(shard=...)`). Rows are
  independent in the AWD-LSTM and the loss is a mean over equally many tokens per rank, so
  DDP's mean of the ranks' gradients is the single-process gradient (up to float summation
  order). Every token keeps its own document's features: the lookup is the single-process one.
- other loaders (sentence VAE, tense CVAE): every rank draws the same seeded global batch and
  keeps its block of rows (`BatchShard`); a last batch that does not divide is padded with
  its first rows (as fastai's `DistributedDL` pads), at most N-1 repeated sentences an epoch.
- validation is sharded too (`validation.py`: the LM's rows, other loaders' whole batches
  round robin) and every metric's sums are all-reduced, so each rank ends with the figures
  one process computes on the whole validation set.

Mixed precision is fastai's `MixedPrecision` (`to_fp16` / `to_bf16`), which autocasts on CUDA
only: fp16 and bf16 are refused on CPU.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from fastai.callback.core import Callback

from ..errors import ContextLMError
from .settings import RuntimeSettings, world_size


def unwrap(model):
    """The model inside DDP (state dicts and module names as a single process has them)."""
    from torch.nn.parallel import DistributedDataParallel
    return model.module if isinstance(model, DistributedDataParallel) else model


def resolve_device(device: str):
    """`auto` -> cuda if available else cpu; `cuda` without a GPU is an error naming the flag."""
    import torch
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ContextLMError("--device cuda: no CUDA device is visible to torch; use --device cpu or auto")
    return torch.device(device)


def check_precision(precision: str, device) -> None:
    """Refuse a precision the device cannot train in (one line naming the flag)."""
    import torch
    if precision == "fp32":
        return
    if device.type != "cuda":
        raise ContextLMError(f"--precision {precision}: mixed precision needs --device cuda (fastai's MixedPrecision "
                             f"autocasts on CUDA); this run is on {device.type}, use --precision fp32")
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        raise ContextLMError(f"--precision bf16: {torch.cuda.get_device_name()} does not support bfloat16; "
                             f"use --precision fp16")


@dataclass
class Runtime:
    """A started runtime: the device, the precision and, with several processes, the accelerator."""
    device: Any
    precision: str
    accelerator: Any = None

    @property
    def distributed(self) -> bool:
        return self.accelerator is not None

    def callbacks(self) -> list:
        """The callbacks a trainer adds: placement (and DDP + sharding), then mixed precision."""
        cbs: list = [DataParallel(self)]
        if self.precision != "fp32":
            from fastai.callback.fp16 import AMPMode, MixedPrecision
            cbs.append(MixedPrecision(amp_mode=AMPMode.BF16 if self.precision == "bf16" else AMPMode.FP16))
        return cbs


def start_runtime(rt: RuntimeSettings | None = None, bs: int | None = None, quiet: bool = False) -> Runtime:
    """Check the device and precision, make fastai's loaders default to the device, and, under a
    launcher (WORLD_SIZE > 1), join the process group through accelerate. Call it before any
    DataLoader is built. `bs` (the global batch) must split evenly over the processes; `quiet`:
    ranks > 0 print nothing on stdout (one process talks; errors still reach stderr)."""
    from fastai.torch_core import default_device
    rt = rt or RuntimeSettings()
    device = resolve_device(rt.device)
    check_precision(rt.precision, device)
    n = world_size()
    if bs is not None and bs % n:
        raise ContextLMError(f"--bs {bs}: must be a multiple of the {n} processes (each reads bs / {n} rows)")
    accelerator = None
    if n > 1:
        from accelerate import Accelerator
        accelerator = Accelerator(cpu=device.type == "cpu")
        device = accelerator.device
        if quiet and accelerator.process_index:
            import sys
            sys.stdout = open(os.devnull, "w")
    default_device(device.type == "cuda")     # fastai: cuda -> torch.cuda.current_device(), set by accelerate
    return Runtime(device, rt.precision, accelerator)


class DataParallel(Callback):
    """Puts loaders and model on the runtime's device; with several processes, also wraps the
    model in DDP (accelerate) and gives this rank its shard of the training loader. Unwrapped
    and unsharded again after `fit`, so saving and sampling see the plain model. Runs after
    fastai's TrainEvalCallback and before the Recorder (as fastai's DistributedTrainer)."""
    order = 11

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def before_fit(self):
        dev = self.runtime.device
        self.learn.dls.to(dev)
        self.learn.model.to(dev)
        acc = self.runtime.accelerator
        if acc is None:
            return
        import fastai.distributed  # noqa: F401  (patches DDP.reset for the AWD-LSTM's ModelResetter)
        self._loaders = list(self.dls.loaders)
        self.learn.dls.loaders[0] = shard_loader(self.dls.loaders[0], acc.process_index, acc.num_processes)
        model = self.learn.model.to(acc.device)
        self.learn.model = ModelDDP(model, device_ids=[acc.local_process_index] if acc.device.type == "cuda" else None,
                                    find_unused_parameters=True)
        if acc.process_index:
            from fastcore.basics import noop
            self.learn.logger = noop

    def after_loss(self):
        """A VAE's loss terms of the training batch summed over the ranks, so its per-batch
        history is the global batch's (not rank 0's share); one small all-reduce per batch."""
        if self.runtime.accelerator is None or not self.training or not getattr(self.learn, "loss_terms", None):
            return
        from .validation import reduce_terms
        self.learn.loss_terms = reduce_terms(self.learn.loss_terms)

    def before_validate(self):
        acc = self.runtime.accelerator
        if acc is None:
            return
        from .validation import shard_validation
        self._wrapped, self.learn.model = self.learn.model, unwrap(self.learn.model)
        self.learn.dl, self._undo = shard_validation(self.learn.dl, acc.process_index, acc.num_processes)

    def after_validate(self):
        if self.runtime.accelerator is None:
            return
        from .validation import reduce_metrics
        reduce_metrics(getattr(self.learn.recorder, "_valid_mets", []), self.learn)
        self._undo()
        self.learn.model = self._wrapped

    def after_fit(self):
        if self.runtime.accelerator is not None:
            self.learn.model = unwrap(self.learn.model)
            self.learn.dls.loaders[:] = self._loaders
            if hasattr(self._loaders[0], "shard"):
                self._loaders[0].shard(0, 1)


def _ddp_class():
    from torch.nn.parallel import DistributedDataParallel

    class ModelDDP(DistributedDataParallel):
        """DDP that reads and writes the wrapped model's own attributes (`config`, `teacher_forcing`,
        `latent_groups()`), which the VAE's loss and callbacks use on `learn.model`."""

        def __getattr__(self, name: str):
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.module, name)

        def __setattr__(self, name: str, value) -> None:
            inner = self.__dict__.get("_modules", {}).get("module")
            if inner is not None and name in inner.__dict__ and name not in self.__dict__:
                setattr(inner, name, value)
            else:
                super().__setattr__(name, value)
    return ModelDDP


def ModelDDP(model, **kwargs):
    """`DistributedDataParallel(model, **kwargs)` that forwards attribute access to `model`
    (the class is built on first use: torch's distributed module loads only in a launch)."""
    return _ddp_class()(model, **kwargs)


def shard_loader(dl, rank: int, world: int):
    """This rank's part of a training loader: the LM loader's own row shard, else `BatchShard`."""
    if hasattr(dl, "shard"):
        return dl.shard(rank, world)
    return BatchShard(dl, rank, world)


def shard_rows(n: int, rank: int, world: int) -> list[int]:
    """Rows of an n-row batch that `rank` keeps: its block of `ceil(n / world)`, the batch padded
    cyclically with its first rows when `world` does not divide n."""
    per = -(-n // world)
    return [i % n for i in range(rank * per, (rank + 1) * per)]


class BatchShard:
    """A fastai DataLoader seen by one rank: the same (seeded) global batches, this rank's rows."""

    def __init__(self, dl, rank: int, world: int):
        self.dl, self.rank, self.world = dl, rank, world

    def __getattr__(self, name: str):
        return getattr(self.dl, name)

    def __len__(self) -> int:
        return len(self.dl)

    def __iter__(self):
        import torch
        for b in self.dl:
            n = len(b[0])
            rows = torch.tensor(shard_rows(n, self.rank, self.world))

            def take(x):
                if isinstance(x, (list, tuple)):
                    return type(x)(take(v) for v in x)
                return x[rows.to(x.device)] if isinstance(x, torch.Tensor) and x.ndim and len(x) == n else x
            yield take(b)
