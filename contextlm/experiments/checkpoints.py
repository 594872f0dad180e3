"""Checkpoints and exact resume for every trainer (LM, sentence VAE, tense CVAE).

One fastai callback (`CheckpointCallback`) used by `contextlm.training.fit_one_cycle`, so
the three trainers share it:

    ckpt = Checkpoints("runs/lm.ckpt", kind="lm", identity={"settings": s.to_dict()}, save_every=200,
                       resume=True)
    fit_one_cycle(learn, s.epochs, s.lr, checkpoint=ckpt)   # continues where the checkpoint stands
    ckpt.finish()                                           # the run is saved: drop its checkpoint

What a checkpoint holds (`checkpoint.pth`, loaded with `torch.load(weights_only=True)`: state
dicts, tensors and plain containers, never a pickled learner):

- the model's and the optimizer's state dicts;
- the schedule position: epoch, batches done in that epoch, `train_iter`, `pct_train` (the
  one-cycle learning rate, the KL annealing and teacher forcing are functions of it);
- the Recorder's history (per-epoch values, per-batch losses and learning rates, the smoothed
  loss) and the list state of other callbacks (`VAEHistory.rows`), so history.csv and the
  loss plots of a resumed run are those of an uninterrupted one;
- the random state at the start of the epoch in progress: Python's global `random` (fastai's
  `LMDataLoader` shuffles documents with it, cumulatively: the loader's document order is
  saved too), NumPy's, torch's (CPU and CUDA) and every DataLoader's own `rng`;
- for a checkpoint taken inside an epoch (`save_every`), also the random state after the last
  batch, the LSTM hidden state carried between LM batches, the KL weight and the
  teacher-forcing ratio.

Resume: the weights and the optimizer are loaded before `fit_one_cycle(..., start_epoch=E)`
(fastai skips the finished epochs; their Recorder rows are put back and the log table is
reprinted); at the start of epoch E the random state of that epoch's start is restored, so
the loader shuffles exactly as it did; inside an epoch, the first batches are drawn and
dropped (no forward pass) and the random state after the last saved batch is restored. With
a fixed seed a resumed run ends with the same weights and metrics as an uninterrupted one
(tests/test_resume.py; same machine, same thread count).

A checkpoint from another model kind or other settings (`identity`: the settings, the data
files' hashes and the flags that change training) is refused with one line. Every setting
counts, `epochs` too: the one-cycle schedule is laid over all epochs, so a run resumed with
another number of epochs would follow a schedule no uninterrupted run has.
"""
from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from fastai.callback.core import Callback
from fastai.learner import Recorder

from ..errors import ContextLMError

FORMAT_VERSION = 1
CHECKPOINT_FILE = "checkpoint.pth"
SUMMARY_FILE = "checkpoint.json"   # what and where, for people (never read to resume)
SETTINGS_FILE = "settings.json"    # the run's settings, for `--config`
LOCK_FILE = ".lock"
OURS = {CHECKPOINT_FILE, SUMMARY_FILE, SETTINGS_FILE, LOCK_FILE}


class CheckpointError(ContextLMError):
    """A checkpoint cannot be used (other kind, other settings, damaged, locked)."""


def checkpoint_folder(out: str | Path, checkpoint_dir: str | Path | None = None) -> Path:
    """Where the checkpoints of the run writing model folder `out` go: `OUT.ckpt` beside it, or
    `DIR/OUTNAME.ckpt` with a checkpoint dir."""
    out = Path(out)
    name = f"{Path(os.path.abspath(out)).name}.ckpt"
    return Path(checkpoint_dir) / name if checkpoint_dir is not None else out.parent / name


# -- plain containers -------------------------------------------------------------------------
def _plain(x: Any) -> Any:
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
        return {k if isinstance(k, (str, int)) else str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)) or type(x).__name__ == "L":
        return [_plain(v) for v in x]
    raise TypeError(f"cannot checkpoint a {type(x).__name__}")


def _to_device(x: Any, device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, list):
        return [_to_device(v, device) for v in x]
    return x


def _canonical(d: Any) -> Any:
    """JSON round trip: tuples become lists, so saved and current identities compare equal."""
    return json.loads(json.dumps(d, sort_keys=True, default=str))


# -- random state --------------------------------------------------------------------------------
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


# -- what lives between batches --------------------------------------------------------------------
def _carried_states(model) -> dict[str, Any]:
    """The hidden state an AWD-LSTM carries from one batch to the next (and its batch size)."""
    out = {}
    for name, m in model.named_modules():
        h = getattr(m, "hidden", None)
        if isinstance(h, (list, tuple)) and h and all(
                isinstance(x, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in x) for x in h):
            out[name] = {"bs": int(getattr(m, "bs", 0)), "hidden": [[t.detach().cpu().clone() for t in x] for x in h]}
    return out


def _set_carried_states(model, states: dict[str, Any]) -> None:
    modules = dict(model.named_modules())
    for name, st in states.items():
        m = modules[name]
        device = next(m.parameters()).device
        m.hidden = [tuple(t.to(device) for t in x) for x in st["hidden"]]
        m.bs = st["bs"]


def _scalars(learn) -> dict[str, float]:
    """Values training callbacks set before each batch and validation reads (beta, teacher forcing)."""
    out = {}
    if isinstance(getattr(learn, "kl_weight", None), (int, float)):
        out["kl_weight"] = float(learn.kl_weight)
    if isinstance(getattr(learn.model, "teacher_forcing", None), (int, float)):
        out["teacher_forcing"] = float(learn.model.teacher_forcing)
    return out


def _set_scalars(learn, d: dict[str, float]) -> None:
    if "kl_weight" in d:
        learn.kl_weight = d["kl_weight"]
    if "teacher_forcing" in d:
        learn.model.teacher_forcing = d["teacher_forcing"]


def _history_state(learn, rows: list) -> dict[str, Any]:
    from fastai.callback.progress import ProgressCallback
    rec = learn.recorder
    callbacks = {}
    for cb in learn.cbs:
        attrs = getattr(cb, "_stateattrs", ())
        if isinstance(cb, (Recorder, ProgressCallback, CheckpointCallback)) or not attrs:
            continue
        try:
            callbacks[type(cb).__name__] = {a: _plain(getattr(cb, a)) for a in attrs if hasattr(cb, a)}
        except TypeError as e:
            warnings.warn(f"checkpoint: the state of callback {type(cb).__name__} is not saved ({e})")
    return {"values": _plain(rec.values), "losses": _plain(rec.losses), "lrs": _plain(rec.lrs),
            "iters": _plain(rec.iters), "smooth_count": int(rec.smooth_loss.count),
            "smooth_val": _plain(rec.smooth_loss.val), "rows": _plain(rows), "callbacks": callbacks}


def _set_history(learn, h: dict[str, Any]) -> None:
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


# -- the checkpoint folder ---------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _write_atomic(path: Path, write) -> None:
    """`write(file object)` into a temporary sibling, flushed to disk, then renamed onto `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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


def _differences(saved: Any, current: Any, prefix: str = "") -> list[str]:
    """`name: saved -> current` for every leaf that differs (dicts walked, other values compared)."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for k in sorted(set(saved) | set(current), key=str):
            name = f"{prefix}{k}"
            if k not in saved or k not in current:
                out.append(f"{name}: {'(none)' if k not in saved else json.dumps(saved[k])} -> "
                           f"{'(none)' if k not in current else json.dumps(current[k])}")
            else:
                out += _differences(saved[k], current[k], f"{name}.")
        return out
    return [] if saved == current else [f"{prefix.rstrip('.')}: {json.dumps(saved)} -> {json.dumps(current)}"]


def describe_position(pos: dict[str, Any]) -> str:
    done = f"{pos['epoch']} of {pos['n_epoch']} epochs done"
    return done + (f", {pos['iter']} of {pos['n_iter']} batches of epoch {pos['epoch'] + 1}" if pos.get("iter") else "")


class Checkpoints:
    """The checkpoint plan of one training run: where (`folder`), what must match to resume
    (`kind`, `identity`), how often (`save_every` batches; always at every epoch end),
    whether to `resume`; `info` is stored, never compared (run id, command line).

    `open()` (before any work) takes the folder's lock and checks it: with `resume`, a
    checkpoint there is loaded and must match; without, an existing checkpoint is an error
    unless `overwrite` (then it is deleted). `finish()` deletes the folder once the run's
    model folder is written (`keep=True` keeps it); `close()` only lets go of the lock."""

    def __init__(self, folder: str | Path, kind: str, identity: dict[str, Any] | None = None, save_every: int = 0,
                 resume: bool = False, overwrite: bool = False, keep: bool = False,
                 info: dict[str, Any] | None = None):
        if save_every < 0:
            raise CheckpointError(f"save_every={save_every}: must be >= 0 (0: epoch ends only)")
        self.folder, self.kind = Path(folder), kind
        self.identity = _canonical(identity or {})
        self.save_every, self.resume, self.overwrite, self.keep = int(save_every), resume, overwrite, keep
        self.info = dict(info or {})
        self.state: dict[str, Any] | None = None   # the checkpoint being resumed from
        self.saved_info: dict[str, Any] = {}        # `info` of the checkpoint being resumed from
        self.removed_stale = False                  # an old checkpoint was deleted (overwrite)
        self._lock: Path | None = None
        self.saves = 0

    @property
    def file(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    @property
    def position(self) -> dict[str, Any] | None:
        return self.state["position"] if self.state else None

    def __enter__(self) -> "Checkpoints":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- before training ----------------------------------------------------------------------
    def open(self) -> "Checkpoints":
        if self._lock is not None:
            return self
        folder = self.folder
        if folder.exists() and not folder.is_dir():
            raise CheckpointError(f"{folder}: is a file; the checkpoint folder must be a folder (--checkpoint-dir)")
        if folder.is_dir():
            strangers = sorted(p.name for p in folder.iterdir() if p.name not in OURS and not p.name.startswith("."))
            if strangers:
                raise CheckpointError(f"{folder}: not a checkpoint folder (it holds {', '.join(strangers[:3])}); "
                                      "choose another --out or --checkpoint-dir")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CheckpointError(f"{folder}: cannot create the checkpoint folder ({e.strerror or e})") from None
        if not os.access(folder, os.W_OK | os.X_OK):
            raise CheckpointError(f"{folder}: checkpoint folder is not writable")
        self._take_lock()
        try:
            for stray in folder.glob(".*.tmp-*"):      # a write cut by a kill: never a checkpoint
                stray.unlink(missing_ok=True)
            if self.file.exists():
                if self.resume:
                    self._load()
                elif self.overwrite:
                    self.file.unlink()
                    (folder / SUMMARY_FILE).unlink(missing_ok=True)
                    self.removed_stale = True
                else:
                    pos = read_checkpoint(self.file)["position"]
                    raise CheckpointError(f"{folder} holds the checkpoint of an unfinished run ({describe_position(pos)}); "
                                          "pass --resume to continue it, or --overwrite to start over")
            settings = self.identity.get("settings")
            if settings is not None and self.state is None:
                _write_atomic(folder / SETTINGS_FILE,
                              lambda f: f.write(json.dumps(settings, indent=2).encode("utf-8")))
        except BaseException:
            self.close()
            raise
        return self

    def _take_lock(self) -> None:
        lock = self.folder / LOCK_FILE
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                text = lock.read_text(errors="replace").strip() if lock.is_file() else ""
                if text.isdigit() and _pid_alive(int(text)):
                    raise CheckpointError(f"{self.folder}: another run (pid {text}) is training into this checkpoint "
                                          "folder; wait for it or choose another --out") from None
                lock.unlink(missing_ok=True)           # its run died (kill -9): take it over
                continue
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            self._lock = lock
            return
        raise CheckpointError(f"{self.folder}: cannot take the lock {lock}")

    def _load(self) -> None:
        state = read_checkpoint(self.file)
        where = str(self.folder)
        if state["kind"] != self.kind:
            raise CheckpointError(f"{where} holds a checkpoint of `train {state['kind']}`, not `train {self.kind}`; "
                                  "choose another --out or --checkpoint-dir")
        saved = _canonical(json.loads(state["identity"]))
        if saved != self.identity:
            diffs = [d for d in _differences(saved, self.identity) if not d.startswith("data")]
            if saved.get("data") != self.identity.get("data"):
                diffs.insert(0, "the data files differ (sha256)")
            shown = "; ".join(d.removeprefix("settings.") for d in diffs[:3]) + ("; ..." if len(diffs) > 3 else "")
            hint = f" (its settings: {self.folder / SETTINGS_FILE})" if (self.folder / SETTINGS_FILE).exists() else ""
            raise CheckpointError(f"{where} was written with other settings or data ({shown}); resume with the same "
                                  f"flags{hint}, or pass --overwrite without --resume to start over")
        self.state = state
        self.saved_info = json.loads(state.get("info") or "{}")

    def close(self) -> None:
        if self._lock is not None:
            self._lock.unlink(missing_ok=True)
            self._lock = None

    def finish(self) -> None:
        """The run is saved: delete its checkpoint folder (unless `keep`), let go of the lock."""
        self.close()
        if self.keep or not self.folder.is_dir():
            return
        if all(p.name in OURS or p.name.startswith(".") for p in self.folder.iterdir()):
            shutil.rmtree(self.folder, ignore_errors=True)

    # -- training ----------------------------------------------------------------------------------
    def attach(self, learn) -> "CheckpointCallback":
        """Load the checkpoint's weights and optimizer state into `learn` (when resuming) and
        return the callback that saves and restores the rest; `callback.start_epoch` is where
        `fit_one_cycle` starts."""
        if self._lock is None:
            self.open()
        state = self.state
        if state is not None:
            try:
                learn.model.load_state_dict(state["model"])
            except RuntimeError as e:
                raise CheckpointError(f"{self.file}: weights do not fit this model ({str(e).splitlines()[0][:200]})") from None
            if learn.opt is None:
                learn.create_opt()
            params = [p for p, *_ in learn.opt.all_params()]
            opt = state["opt"]
            if len(opt["state"]) != len(params) or len(opt["hypers"]) != len(learn.opt.param_lists):
                raise CheckpointError(f"{self.file}: the optimizer state does not fit this model")
            learn.opt.load_state_dict({"state": [_to_device(s, p.device) for s, p in zip(opt["state"], params)],
                                       "hypers": opt["hypers"]})
        return CheckpointCallback(self, state)

    def save(self, learn, position: dict[str, Any], start: dict[str, Any], now: dict[str, Any] | None,
             rows: list) -> None:
        payload = {"format": FORMAT_VERSION, "kind": self.kind, "identity": json.dumps(self.identity, sort_keys=True),
                   "info": json.dumps(self.info, sort_keys=True, default=str), "position": _plain(position),
                   "model": {k: v.detach().cpu() for k, v in learn.model.state_dict().items()},
                   "opt": _plain(learn.opt.state_dict()), "history": _history_state(learn, rows),
                   "start": _plain(start), "now": _plain(now)}
        summary = {"kind": self.kind, "position": position, "where": describe_position(position),
                   "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(), **self.info}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(self.file, lambda f: torch.save(payload, f))
            _write_atomic(self.folder / SUMMARY_FILE,
                          lambda f: f.write(json.dumps(summary, indent=2, default=str).encode()))
        except OSError as e:
            raise CheckpointError(f"{self.folder}: cannot write the checkpoint ({e.strerror or e}); the last "
                                  "complete one is kept") from None
        self.saves += 1


def _quiet(*args, **kwargs) -> None:
    """The logger while fastai skips the epochs a checkpoint already holds."""


class _SkipBatches:
    """A training DataLoader that draws and drops its first `n` batches (no forward pass),
    then calls `at_skip()` (which puts back the random state after the last saved batch)."""

    def __init__(self, dl, n: int, at_skip):
        self.dl, self.n, self.at_skip = dl, n, at_skip

    def __len__(self) -> int:
        return len(self.dl)

    def __getattr__(self, name: str):
        return getattr(self.dl, name)

    def __iter__(self) -> Iterator:
        it = iter(self.dl)
        for _ in range(self.n):
            next(it)
        self.at_skip()
        yield from it


class CheckpointCallback(Callback):
    """Saves a checkpoint at every epoch end (and every `save_every` training batches) and, for
    a resumed run, restores what the weights alone do not hold. Runs after the Recorder (50),
    `VAEHistory` and the progress bar (60), so what it saves includes their updates."""
    order = 99

    def __init__(self, plan: Checkpoints, state: dict[str, Any] | None = None):
        self.plan, self.state = plan, state
        pos = state["position"] if state else {"epoch": 0, "iter": 0}
        self.start_epoch, self.skip = int(pos["epoch"]), int(pos.get("iter") or 0)
        self._history_restored = self._train_restored = state is None
        self._epoch_start: dict[str, Any] | None = None
        self._offset = 0
        self._rows: list = []

    # -- resume -----------------------------------------------------------------------------------
    def before_fit(self):
        self._logger = self.learn.logger
        if self.state is not None:
            if self.state["position"].get("n_epoch") not in (None, self.n_epoch):
                raise CheckpointError(f"{self.plan.folder}: the checkpoint is of a {self.state['position']['n_epoch']}-"
                                      f"epoch run, this one has {self.n_epoch} epochs")
            if self.start_epoch:
                self.learn.logger = _quiet      # fastai's skipped epochs would log empty rows

    def _restore_history(self, reprint: bool = True) -> None:
        self._history_restored = True
        h = self.state["history"]
        _set_history(self.learn, h)
        self._rows = [list(r) for r in h["rows"]]
        if self.learn.logger is _quiet:
            self.learn.logger = self._logger
            if reprint:
                for row in self._rows:
                    self.learn.logger(row)

    def before_epoch(self):
        if not self._history_restored and self.epoch == self.start_epoch:
            self._restore_history()

    def before_train(self):
        if not self._train_restored and self.epoch == self.start_epoch:
            self._train_restored = True
            pos = self.state["position"]
            set_rng_state(self.learn, self.state["start"])
            if self.skip:
                if pos.get("n_iter") not in (None, len(self.learn.dl)):
                    raise CheckpointError(f"{self.plan.folder}: the checkpoint's epochs have {pos['n_iter']} batches, "
                                          f"this run's {len(self.learn.dl)}: not the same data")
                self.learn.dl = _SkipBatches(self.learn.dl, self.skip, self._at_skip)
                self._offset = self.skip
            else:
                self.learn.train_iter = pos["train_iter"]
        self._epoch_start = rng_state(self.learn)

    def _at_skip(self) -> None:
        now, pos = self.state["now"], self.state["position"]
        set_rng_state(self.learn, now["rng"], order=False)
        _set_carried_states(self.learn.model, now["carried"])
        _set_scalars(self.learn, now["scalars"])
        self.learn.train_iter, self.learn.pct_train = pos["train_iter"], pos["pct_train"]

    def before_batch(self):
        if self.training and self._offset:
            self.learn.iter += self._offset

    def after_train(self):
        self._offset = 0

    def after_fit(self):
        if not self._history_restored:   # the checkpoint held every epoch: only the history to put back
            self._restore_history(reprint=False)
            set_rng_state(self.learn, self.state["start"])

    # -- save ---------------------------------------------------------------------------------------
    def after_batch(self):
        if (self.training and self.plan.save_every and self.train_iter % self.plan.save_every == 0
                and self.iter + 1 < self.n_iter):
            pos = dict(epoch=self.epoch, iter=self.iter + 1, n_iter=self.n_iter, n_epoch=self.n_epoch,
                       train_iter=self.train_iter, pct_train=self.pct_train)
            now = {"rng": rng_state(self.learn), "carried": _carried_states(self.learn.model),
                   "scalars": _scalars(self.learn)}
            self.plan.save(self.learn, pos, self._epoch_start, now, self._rows)

    def after_epoch(self):
        if self.epoch < self.start_epoch:  # skipped by fastai (start_epoch)
            return
        self._rows.append(_plain(list(self.recorder.log)))
        pos = dict(epoch=self.epoch + 1, iter=0, n_iter=None, n_epoch=self.n_epoch, train_iter=self.train_iter,
                   pct_train=(self.epoch + 1) / self.n_epoch)
        self.plan.save(self.learn, pos, rng_state(self.learn), None, self._rows)
