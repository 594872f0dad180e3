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

The pieces: `checkpoint_file` (names, format, `read_checkpoint`), `rng_state` (random state),
`learner_state` (hidden state, scalars, history), `checkpoint_callback` (the fastai callback);
this module holds the plan: the folder, its lock, the refusals, `attach`, `save`, `finish`.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from .checkpoint_callback import CheckpointCallback
from .checkpoint_file import (CHECKPOINT_FILE, FORMAT_VERSION, LOCK_FILE, OURS, SETTINGS_FILE, SUMMARY_FILE,
                              CheckpointError, plain, read_checkpoint)
from .learner_state import history_state
from .registry_lookup import pid_alive


def checkpoint_folder(out: str | Path, checkpoint_dir: str | Path | None = None) -> Path:
    """Where the checkpoints of the run writing model folder `out` go: `OUT.ckpt` beside it, or
    `DIR/OUTNAME.ckpt` with a checkpoint dir."""
    out = Path(out)
    name = f"{Path(os.path.abspath(out)).name}.ckpt"
    return Path(checkpoint_dir) / name if checkpoint_dir is not None else out.parent / name


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
    model folder is written (`keep=True` keeps it); `close()` only lets go of the lock.

    `readonly=True` (the ranks > 0 of a data-parallel run): no lock, no writes, no deletions;
    the checkpoint is only loaded (with `resume`), so every rank starts from it while rank 0
    alone writes."""

    def __init__(self, folder: str | Path, kind: str, identity: dict[str, Any] | None = None, save_every: int = 0,
                 resume: bool = False, overwrite: bool = False, keep: bool = False,
                 info: dict[str, Any] | None = None, readonly: bool = False):
        if save_every < 0:
            raise CheckpointError(f"save_every={save_every}: must be >= 0 (0: epoch ends only)")
        self.folder, self.kind = Path(folder), kind
        self.identity = _canonical(identity or {})
        self.save_every, self.resume, self.overwrite, self.keep = int(save_every), resume, overwrite, keep
        self.info = dict(info or {})
        self.readonly = readonly
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
        if self.readonly:
            if self.resume and self.file.exists():
                self._load()
            self._lock = folder / LOCK_FILE   # marks the plan open; never created nor removed
            return self
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
                if text.isdigit() and pid_alive(int(text)):
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
            if not self.readonly:
                self._lock.unlink(missing_ok=True)
            self._lock = None

    def finish(self) -> None:
        """The run is saved: delete its checkpoint folder (unless `keep`), let go of the lock."""
        self.close()
        if self.keep or self.readonly or not self.folder.is_dir():
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
        if self.readonly:
            return
        from ..distributed.runtime import unwrap
        payload = {"format": FORMAT_VERSION, "kind": self.kind, "identity": json.dumps(self.identity, sort_keys=True),
                   "info": json.dumps(self.info, sort_keys=True, default=str), "position": plain(position),
                   "model": {k: v.detach().cpu() for k, v in unwrap(learn.model).state_dict().items()},
                   "opt": plain(learn.opt.state_dict()), "history": history_state(learn, rows),
                   "start": plain(start), "now": plain(now)}
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
