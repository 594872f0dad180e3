"""What the `train` commands share for checkpoints and the run registry: the flags, and one
`TrainingRun` per model folder a command writes.

    run = TrainingRun(args, "vae", s.to_dict(), args.out, data=data_record([args.data]))
    run.check()                                   # before any work: target, checkpoint, settings
    with run.training():                          # registry entry; 'failed'/'interrupted' on the way out
        learn = train_vae(table, s, checkpoint=run.checkpoint)
        save_vae_run(learn, args.out, overwrite=args.overwrite)
        run.done(history, metrics, ("valid neg_elbo", x))   # registry: finished; checkpoint folder removed

Torch-free at import (the CLI builds its parser from here).
"""
from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..errors import ContextLMError


def add_experiment_arguments(p: argparse.ArgumentParser) -> None:
    """`--resume`, `--save-every`, `--checkpoint-dir`, `--no-checkpoint`, `--keep-checkpoint`, `--runs-dir`."""
    from ..settings import number
    g = p.add_argument_group("checkpoints and the run registry")
    g.add_argument("--resume", action="store_true",
                   help="continue from the checkpoint of an interrupted run (give the same flags); with no "
                        "checkpoint, train from the start; a model folder already finished with these settings is kept")
    g.add_argument("--save-every", type=number(int, min=1, max=10**9), metavar="N",
                   help="also checkpoint every N training batches (default: at the end of every epoch only)")
    g.add_argument("--checkpoint-dir", type=Path, metavar="DIR",
                   help="where checkpoint folders go (default: beside --out, as OUT.ckpt); removed when the run "
                        "finished")
    g.add_argument("--no-checkpoint", action="store_true", help="write no checkpoints (a kill loses the run)")
    g.add_argument("--keep-checkpoint", action="store_true", help="keep the checkpoint folder after the run finished")
    g.add_argument("--runs-dir", type=Path, metavar="DIR",
                   help="run registry: one folder per run (default: $CONTEXTLM_RUNS, else runs/)")


class TrainingRun:
    """One model folder a `train` command writes: its checkpoint plan and registry entry.

    `identity` extras (e.g. `{"conditioned": False}`) join the settings and the data hashes in
    what a checkpoint must match. In a data-parallel launch only rank 0 writes (checkpoints, the
    registry entry); the other ranks check the same things and load the same checkpoint."""

    def __init__(self, args: argparse.Namespace, kind: str, settings: dict[str, Any], out: str | Path,
                 data: list[dict[str, Any]], identity: dict[str, Any] | None = None, name: str | None = None):
        self.args, self.kind, self.settings, self.out = args, kind, settings, Path(out)
        self.data, self.name = data, name
        self.identity = {"settings": settings, "data": [d["sha256"] for d in data], **(identity or {})}
        self.checkpoint = None          # a Checkpoints plan, unless --no-checkpoint
        self.finished = False           # --resume found this run's model folder already written
        self.record = None
        from ..distributed import is_main
        self.main = is_main()

    # -- before any work ----------------------------------------------------------------------
    def check(self) -> "TrainingRun":
        from ..modelio import CONFIG_FILE, check_writable_target
        args = self.args
        if args.no_checkpoint and (args.resume or args.save_every or args.keep_checkpoint):
            raise ContextLMError("--no-checkpoint cannot go with --resume, --save-every or --keep-checkpoint")
        from .checkpoint_file import CHECKPOINT_FILE
        from .checkpoints import Checkpoints, _canonical, checkpoint_folder
        folder = checkpoint_folder(self.out, args.checkpoint_dir)
        if args.resume and not args.overwrite and (self.out / CONFIG_FILE).is_file():
            saved = self.out / "settings.json"
            try:
                same = saved.is_file() and _canonical(json.loads(saved.read_text(encoding="utf-8"))) == _canonical(self.settings)
            except (OSError, ValueError):
                same = False
            if same:   # without --overwrite only this run can have written it: it ended after its last checkpoint
                self.finished = True
                if self.main and (folder / CHECKPOINT_FILE).exists():
                    Checkpoints(folder, self.kind, self.identity, overwrite=True, keep=args.keep_checkpoint).open().finish()
                return self
        check_writable_target(self.out, args.overwrite)
        if not args.no_checkpoint:
            self.checkpoint = Checkpoints(folder, self.kind, self.identity, save_every=args.save_every or 0,
                                          resume=args.resume, overwrite=args.overwrite, keep=args.keep_checkpoint,
                                          readonly=not self.main)
            self.checkpoint.open()
        return self

    def describe(self) -> str:
        """One line on where this run starts."""
        from .checkpoints import describe_position
        if self.finished:
            return f"{self.out}: finished earlier with these settings; kept (nothing to resume)"
        ck = self.checkpoint
        if ck is None:
            return "no checkpoints (--no-checkpoint)"
        if ck.position is not None:
            return f"resuming from {ck.folder}: {describe_position(ck.position)}"
        start = "no checkpoint to resume: training from the start; " if self.args.resume else ""
        every = f" and every {ck.save_every} batches" if ck.save_every else ""
        old = " (the earlier run's checkpoint was removed: --overwrite)" if ck.removed_stale else ""
        return f"{start}checkpoints at every epoch end{every} in {ck.folder}{old}"

    # -- training ------------------------------------------------------------------------------
    @contextmanager
    def training(self) -> Iterator["TrainingRun"]:
        from .registry import RunRecord
        ck = self.checkpoint
        if not self.main:
            try:
                yield self
            finally:
                if ck is not None:
                    ck.close()
            return
        reuse = ck.saved_info.get("run_id") if ck is not None else None
        self.record = RunRecord.start(self.kind, settings=self.settings, out=self.out, runs=self.args.runs_dir,
                                      args=self.args, checkpoint=ck.folder if ck is not None else None, reuse=reuse,
                                      data=self.data, extra={"name": self.name} if self.name else None)
        if ck is not None and self.record.id:
            ck.info["run_id"] = self.record.id
        try:
            yield self
        except BaseException as e:
            self.record.stopped("interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                                str(e).splitlines()[0][:300] if str(e) else type(e).__name__)
            raise
        finally:
            if ck is not None:
                ck.close()

    def done(self, history=None, metrics: dict[str, Any] | None = None,
             headline: tuple[str, float] | None = None) -> None:
        """The model folder is written: record the run as finished and drop its checkpoints."""
        if self.record is not None:
            self.record.finish(history, metrics, headline)
        if self.checkpoint is not None:
            self.checkpoint.finish()

    def close(self) -> None:
        if self.checkpoint is not None:
            self.checkpoint.close()

    @property
    def recorded(self) -> str | None:
        """The registry folder, when the run was recorded."""
        return str(self.record.folder) if self.record is not None and self.record.folder is not None else None


def data_digests(paths) -> list[dict[str, Any]]:
    """Path, size and sha256 of each data file that exists (a missing or unreadable one is
    left to the corpus reader, whose error names it)."""
    from .registry import data_record
    out = []
    for p in paths:
        if p is None:
            continue
        try:
            out += data_record([p])
        except OSError:
            continue
    return out
