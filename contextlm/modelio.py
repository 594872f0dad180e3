"""Model folders: a plain state dict (`model.pth`) + `config.json`, nothing pickled.

Every trained thing in contextlm (context LM, sentence VAE, tense CVAE) saves through
`save_model_folder` (or `model_folder_writer`, to add history, plots and metrics of the
same run) and loads through `load_model_folder`, which loads tensors with
`weights_only=True` and turns every way a folder can be wrong into one clear line.

A folder is written whole or not at all: every file goes into a temporary sibling that
is renamed into place at the end, under a lock file beside the target, so two runs
writing the same folder never mix their files and a failed run leaves the old folder
as it was.
"""
from __future__ import annotations

import json
import os
import pickle
import secrets
import shutil
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from .errors import ModelFolderError
from .version import __version__

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.pth"
CONFIG_FILE = "config.json"


def check_writable_target(path: str | Path, overwrite: bool = False) -> Path:
    """Fail fast (before any training) when `path` cannot become a model folder.

    Returns the path. An empty folder is fine; a model folder needs `overwrite`; a file or
    a folder of other things is never replaced, so a typo in --out cannot delete data."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise ModelFolderError(f"{path}: is a file, not a model folder; choose another --out")
        if any(path.iterdir()):
            if not (path / CONFIG_FILE).is_file():
                raise ModelFolderError(f"{path}: exists and is not a model folder (no {CONFIG_FILE}); "
                                       "refusing to replace it, choose another --out")
            if not overwrite:
                raise ModelFolderError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    parent = next(p for p in Path(os.path.abspath(path)).parents if p.exists() or p.is_symlink())
    if not parent.is_dir():
        raise ModelFolderError(f"{path}: cannot be created, {parent} is a file")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ModelFolderError(f"{path}: cannot be created, {parent} is not writable")
    return path


def _lock_file(path: Path) -> Path:
    return path.parent / f".{path.name}.lock"


@contextmanager
def _serialised(folder: Path) -> Iterator[None]:
    """Hold an flock on `folder` while taking a lock, so a stale lock is taken over by one process only."""
    try:
        import fcntl
    except ImportError:                         # Windows: O_EXCL alone
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:                         # a file system without flock: O_EXCL alone
            pass
        yield
    finally:
        os.close(fd)                            # closing releases the flock


def _take_lock(path: Path, shown: Path) -> Path:
    """Create the lock file beside `path` (O_EXCL, holding our pid); a lock left by a dead process is taken over.
    Messages name the folder as the user spelled it (`shown`)."""
    lock = _lock_file(path)
    with _serialised(lock.parent):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text = lock.read_text(errors="replace").strip() if lock.is_file() else ""
            if not text.isdigit():
                raise ModelFolderError(f"{shown}: locked by {lock} (no pid in it); delete that file if no run "
                                       "is writing this folder") from None
            from .experiments.registry_lookup import pid_alive   # torch-free, shared with the run registry
            if pid_alive(int(text)):
                raise ModelFolderError(f"{shown}: another run (pid {text}) is writing this model folder; "
                                       "wait for it or choose another --out") from None
            lock.unlink()                       # its writer died: take it over
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(f"{os.getpid()}\n")
    return lock


def _sibling(path: Path, what: str) -> Path:
    return path.parent / f".{path.name}.{what}-{os.getpid()}-{secrets.token_hex(4)}"


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _move_into_place(tmp: Path, path: Path) -> None:
    """Rename `tmp` to `path`; an old `path` is renamed aside first and deleted after, never merged."""
    if not (path.exists() or path.is_symlink()):
        os.rename(tmp, path)
        return
    old = _sibling(path, "old")
    os.rename(path, old)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(old, path)
        raise
    _remove(old)


@contextmanager
def model_folder_writer(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling folder to write every file of a run into; on a clean exit
    it becomes `path`, on an exception it is deleted and an existing `path` is untouched.

        with model_folder_writer("runs/lm", overwrite=args.overwrite) as tmp:
            write_model_files(tmp, "context_lm", model, config)
            history.to_csv(tmp / "history.csv")

    A lock file beside `path` makes a second writer fail at once with a ModelFolderError."""
    shown = check_writable_target(path, overwrite)
    path = Path(os.path.abspath(shown))         # '.', '..' and trailing slashes have no usable name
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = _take_lock(path, shown)
    tmp = None
    try:
        check_writable_target(shown, overwrite)  # again: a run that held the lock may have just finished
        tmp = _sibling(path, "tmp")
        tmp.mkdir()
        yield tmp
        _move_into_place(tmp, path)
        tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        lock.unlink(missing_ok=True)


def write_model_files(folder: str | Path, kind: str, model: nn.Module, config: dict[str, Any]) -> None:
    """Write `model`'s state dict and `config` (JSON-serialisable) into an existing `folder`."""
    folder = Path(folder)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, folder / WEIGHTS_FILE)
    meta = {"kind": kind, "format_version": FORMAT_VERSION, "contextlm_version": __version__, **config}
    (folder / CONFIG_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")


def save_model_folder(path: str | Path, kind: str, model: nn.Module, config: dict[str, Any],
                      overwrite: bool = False) -> Path:
    """Write `model` and `config` as the model folder `path`, atomically (see `model_folder_writer`)."""
    with model_folder_writer(path, overwrite=overwrite) as tmp:
        write_model_files(tmp, kind, model, config)
    return Path(path)


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
    if not cfg_file.is_file():
        raise ModelFolderError(f"{cfg_file}: is a folder, not a JSON file")
    try:
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"{cfg_file}: not valid JSON ({e})") from None
    except OSError as e:
        raise ModelFolderError(f"{cfg_file}: cannot read ({e.strerror or e})") from None
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
    if not weights.is_file():
        raise ModelFolderError(f"{weights}: is a folder, not a weights file")
    try:
        with warnings.catch_warnings():        # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            state = torch.load(weights, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # torch's own message suggests weights_only=False, i.e. running the file's code: never pass that on.
        if "Unsupported global" in str(e) or _is_plain_pickle(weights):
            raise ModelFolderError(f"{weights}: refused: loading it would need pickle, which can run arbitrary "
                                   "code; contextlm model files are plain state dicts") from None
        raise ModelFolderError(f"{weights}: not a loadable state dict (unreadable or damaged)") from None
    except Exception as e:  # torch raises many types for truncated/foreign files
        raise ModelFolderError(f"{weights}: not a loadable state dict ({_first_line(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFolderError(f"{weights}: not a state dict of tensors")
    return state, config


def _is_plain_pickle(file: Path) -> bool:
    """A bare `pickle.dump` (protocol 2+ starts with PROTO), not torch's zip container."""
    with open(file, "rb") as f:
        return f.read(1) == b"\x80"


def _first_line(e: Exception) -> str:
    """The first sentence of a (torch) message: its later sentences are advice meant for torch's developers."""
    text = str(e).strip()
    return text.splitlines()[0].split(". ")[0].rstrip(".")[:200] if text else type(e).__name__


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
