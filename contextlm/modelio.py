"""Model folders: a plain state dict (`model.pth`) + `config.json`, nothing pickled.

Every trained thing in contextlm (context LM, sentence VAE, tense CVAE) saves through
`save_model_folder` and loads through `load_model_folder`, which loads tensors with
`weights_only=True` and turns every way a folder can be wrong into one clear line.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import ModelFolderError
from .version import __version__

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.pth"
CONFIG_FILE = "config.json"


def save_model_folder(path: str | Path, kind: str, model: nn.Module, config: dict[str, Any]) -> Path:
    """Write `model`'s state dict and `config` (JSON-serialisable) to the folder `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, path / WEIGHTS_FILE)
    meta = {"kind": kind, "format_version": FORMAT_VERSION, "contextlm_version": __version__, **config}
    (path / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def read_model_config(path: str | Path, kind: str | tuple[str, ...]) -> dict[str, Any]:
    """Read and check `config.json` of a model folder of the given kind(s)."""
    path = Path(path)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if not path.exists():
        raise ModelFolderError(f"{path}: no such model folder")
    if not path.is_dir():
        raise ModelFolderError(f"{path}: is a file; a model is a folder with {CONFIG_FILE} and {WEIGHTS_FILE}")
    cfg_file = path / CONFIG_FILE
    if not cfg_file.exists():
        raise ModelFolderError(f"{path}: partial model folder: {CONFIG_FILE} is missing")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{cfg_file}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or "kind" not in config:
        raise ModelFolderError(f"{cfg_file}: not a contextlm model config (no 'kind')")
    if config["kind"] not in kinds:
        raise ModelFolderError(f"{path}: holds a '{config['kind']}' model, expected {' or '.join(repr(k) for k in kinds)}")
    if config.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format version {config['format_version']} is newer than this contextlm "
                               f"({FORMAT_VERSION}); upgrade contextlm")
    return config


def load_model_folder(path: str | Path, kind: str | tuple[str, ...]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return `(state_dict, config)` of a model folder; tensors load on the CPU with `weights_only=True`."""
    path = Path(path)
    config = read_model_config(path, kind)
    weights = path / WEIGHTS_FILE
    if not weights.exists():
        raise ModelFolderError(f"{path}: partial model folder: {WEIGHTS_FILE} is missing")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for truncated/foreign files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelFolderError(f"{weights}: not a loadable state dict ({msg[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFolderError(f"{weights}: not a state dict of tensors")
    return state, config


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> nn.Module:
    """Load `state` into `model`, naming the first mismatching key if the two disagree."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise ModelFolderError(f"{path}: weights do not match the config ({what}; "
                               f"{len(missing)} missing, {len(extra)} unexpected keys)")
    for k, v in own.items():
        if v.shape != state[k].shape:
            raise ModelFolderError(f"{path}: weights do not match the config ({k}: saved {tuple(state[k].shape)}, "
                                   f"config builds {tuple(v.shape)})")
    model.load_state_dict(state)
    return model
