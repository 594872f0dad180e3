"""Capture and restore every random state training draws from (Python's, NumPy's, torch's,
each DataLoader's `rng` and document order), so a resumed epoch shuffles as the original did."""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from .checkpoint_file import CheckpointError


def _random_state(r) -> list:
    version, internal, gauss = r.getstate()
    return [version, list(internal), gauss]


def _set_random_state(r, s: list) -> None:
    r.setstate((s[0], tuple(s[1]), s[2]))


def _reindexed_items(dl):
    from fastcore.xtras import ReindexCollection
    items = vars(dl).get("items")
    return items if isinstance(items, ReindexCollection) else None


def rng_state(learn) -> dict[str, Any]:
    """Every random state training draws from: Python's, NumPy's, torch's (CPU, CUDA) and each
    DataLoader's `rng` and document order (fastai's LM loader reorders its documents in place)."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    loaders = []
    for dl in getattr(learn.dls, "loaders", []):
        st: dict[str, Any] = {}
        if isinstance(getattr(dl, "rng", None), random.Random):
            st["rng"] = _random_state(dl.rng)
        items = _reindexed_items(dl)
        if items is not None:
            st["order"] = [int(i) for i in items.idxs]
        loaders.append(st)
    return {"python": _random_state(random), "numpy": {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                                                      "pos": int(pos), "has_gauss": int(has_gauss),
                                                      "gauss": float(gauss)},
            "torch": torch.get_rng_state(),
            "cuda": [t.cpu() for t in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
            "loaders": loaders}


def set_rng_state(learn, st: dict[str, Any], order: bool = True) -> None:
    """Put back what `rng_state` saved (`order=False`: leave the loaders' document order)."""
    _set_random_state(random, st["python"])
    n = st["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(st["torch"])
    if st["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])
    for dl, ls in zip(getattr(learn.dls, "loaders", []), st["loaders"]):
        if "rng" in ls and isinstance(getattr(dl, "rng", None), random.Random):
            _set_random_state(dl.rng, ls["rng"])
        items = _reindexed_items(dl)
        if order and "order" in ls and items is not None:
            if len(ls["order"]) != len(items.idxs):
                raise CheckpointError(f"the checkpoint's loader holds {len(ls['order'])} documents, this one "
                                      f"{len(items.idxs)}: not the same data")
            for j, v in enumerate(ls["order"]):   # in place: the loader's `lens` share this list
                items.idxs[j] = v
            if hasattr(dl, "make_chunks"):
                dl.make_chunks()
