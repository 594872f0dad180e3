"""The checkpoint file: its names in a checkpoint folder, the format version, the error every
checkpoint refusal raises, what can go into the file (`plain`: what `torch.load(weights_only=True)`
reads back, never a pickled object) and reading one back, or one line saying why not."""
from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ContextLMError

FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pth"
SUMMARY_FILE = "checkpoint.json"   # what and where, for people (never read to resume)
SETTINGS_FILE = "settings.json"    # the run's settings, for `--config`
LOCK_FILE = ".lock"
OURS = {CHECKPOINT_FILE, SUMMARY_FILE, SETTINGS_FILE, LOCK_FILE}


class CheckpointError(ContextLMError):
    """A checkpoint cannot be used (other kind, other settings, damaged, locked)."""


def plain(x: Any) -> Any:
    """`x` as what `torch.load(weights_only=True)` reads back: tensors, numbers, strings and
    lists/dicts of them (numpy scalars become Python numbers, arrays tensors)."""
    if isinstance(x, np.generic):            # before float: np.float64 is a float
        return x.item()
    if x is None or isinstance(x, (bool, int, float, str)):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x.copy())
    if isinstance(x, torch.Tensor):          # fastai's TensorBase would need pickle: a plain tensor
        return x.detach().cpu().as_subclass(torch.Tensor).clone()
    if isinstance(x, dict):
        return {k if isinstance(k, (str, int)) else str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or type(x).__name__ == "L":
        return [plain(v) for v in x]
    raise TypeError(f"cannot checkpoint a {type(x).__name__}")


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint file's content (tensors on the CPU), or one line saying why not."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e):
            raise CheckpointError(f"{path}: refused: not a contextlm checkpoint (loading it would need pickle, "
                                  "which can run arbitrary code)") from None
        raise CheckpointError(f"{path}: damaged checkpoint (unreadable); delete it, or pass --overwrite to start "
                              "over") from None
    except Exception as e:  # torch raises many types for truncated files
        text = str(e).strip()
        raise CheckpointError(f"{path}: damaged checkpoint ({text.splitlines()[0][:200] if text else type(e).__name__}); "
                              "delete it, or pass --overwrite to start over") from None
    if not isinstance(state, dict) or "format" not in state or "kind" not in state:
        raise CheckpointError(f"{path}: not a contextlm checkpoint")
    if state["format"] > FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {state['format']} is newer than this contextlm "
                              f"({FORMAT_VERSION}); upgrade contextlm")
    return state

