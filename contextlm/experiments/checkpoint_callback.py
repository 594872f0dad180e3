"""The fastai callback that saves a checkpoint during `fit` (every epoch end, every `save_every`
batches) and, for a resumed run, restores what the weights alone do not hold (random state,
history, position inside the epoch)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from fastai.callback.core import Callback

from ..distributed.runtime import unwrap

from .checkpoint_file import CheckpointError, plain
from .learner_state import carried_states, scalars, set_carried_states, set_history, set_scalars
from .rng_state import rng_state, set_rng_state

if TYPE_CHECKING:
    from .checkpoints import Checkpoints


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
        set_history(self.learn, h)
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
        set_carried_states(unwrap(self.learn.model), now["carried"])
        set_scalars(self.learn, now["scalars"])
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
            now = {"rng": rng_state(self.learn), "carried": carried_states(unwrap(self.learn.model)),
                   "scalars": scalars(self.learn)}
            self.plan.save(self.learn, pos, self._epoch_start, now, self._rows)

    def after_epoch(self):
        if self.epoch < self.start_epoch:  # skipped by fastai (start_epoch)
            return
        self._rows.append(plain(list(self.recorder.log)))
        pos = dict(epoch=self.epoch + 1, iter=0, n_iter=None, n_epoch=self.n_epoch, train_iter=self.train_iter,
                   pct_train=(self.epoch + 1) / self.n_epoch)
        self.plan.save(self.learn, pos, rng_state(self.learn), None, self._rows)
