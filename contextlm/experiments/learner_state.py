"""What a learner holds besides its weights and optimizer that a checkpoint saves and a resume
puts back: the LSTM hidden state carried between batches, the values callbacks set before each
batch (KL weight, teacher forcing), the Recorder's history and other callbacks' list state."""
from __future__ import annotations

import warnings
from typing import Any

import torch
from fastai.learner import Recorder

from .checkpoint_file import plain


def carried_states(model) -> dict[str, Any]:
    """The hidden state an AWD-LSTM carries from one batch to the next (and its batch size)."""
    out = {}
    for name, m in model.named_modules():
        h = getattr(m, "hidden", None)
        if isinstance(h, (list, tuple)) and h and all(
                isinstance(x, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in x) for x in h):
            out[name] = {"bs": int(getattr(m, "bs", 0)), "hidden": [[t.detach().cpu().clone() for t in x] for x in h]}
    return out


def set_carried_states(model, states: dict[str, Any]) -> None:
    modules = dict(model.named_modules())
    for name, st in states.items():
        m = modules[name]
        device = next(m.parameters()).device
        m.hidden = [tuple(t.to(device) for t in x) for x in st["hidden"]]
        m.bs = st["bs"]


def scalars(learn) -> dict[str, float]:
    """Values training callbacks set before each batch and validation reads (beta, teacher forcing)."""
    out = {}
    if isinstance(getattr(learn, "kl_weight", None), (int, float)):
        out["kl_weight"] = float(learn.kl_weight)
    if isinstance(getattr(learn.model, "teacher_forcing", None), (int, float)):
        out["teacher_forcing"] = float(learn.model.teacher_forcing)
    return out


def set_scalars(learn, d: dict[str, float]) -> None:
    if "kl_weight" in d:
        learn.kl_weight = d["kl_weight"]
    if "teacher_forcing" in d:
        learn.model.teacher_forcing = d["teacher_forcing"]


def history_state(learn, rows: list) -> dict[str, Any]:
    from fastai.callback.progress import ProgressCallback

    from .checkpoint_callback import CheckpointCallback
    rec = learn.recorder
    callbacks = {}
    for cb in learn.cbs:
        attrs = getattr(cb, "_stateattrs", ())
        if isinstance(cb, (Recorder, ProgressCallback, CheckpointCallback)) or not attrs:
            continue
        try:
            callbacks[type(cb).__name__] = {a: plain(getattr(cb, a)) for a in attrs if hasattr(cb, a)}
        except TypeError as e:
            warnings.warn(f"checkpoint: the state of callback {type(cb).__name__} is not saved ({e})")
    return {"values": plain(rec.values), "losses": plain(rec.losses), "lrs": plain(rec.lrs),
            "iters": plain(rec.iters), "smooth_count": int(rec.smooth_loss.count),
            "smooth_val": plain(rec.smooth_loss.val), "rows": plain(rows), "callbacks": callbacks}


def set_history(learn, h: dict[str, Any]) -> None:
    from fastai.torch_core import TensorBase
    rec = learn.recorder
    rec.values = [list(v) for v in h["values"]]
    rec.losses = [TensorBase(v) if isinstance(v, torch.Tensor) else v for v in h["losses"]]
    rec.lrs, rec.iters = list(h["lrs"]), list(h["iters"])
    rec.smooth_loss.count = h["smooth_count"]
    rec.smooth_loss.val = TensorBase(h["smooth_val"])
    for cb in learn.cbs:
        for attr, value in h["callbacks"].get(type(cb).__name__, {}).items():
            setattr(cb, attr, value)
