"""The fastai callback that lets Optuna prune a sweep's bad trials.

After every epoch it reports the watched Recorder value (e.g. `perplexity`, `neg_elbo`) to
the trial; when the pruner says so, it stops the fit with fastai's `CancelFitException`
(fastai ends the fit cleanly) and remembers it, so the sweep raises `optuna.TrialPruned`
after the trainer returns. Imported only by the sweep workers (fastai at import).
"""
from __future__ import annotations

import math

from fastai.callback.core import Callback, CancelFitException


class OptunaPruning(Callback):
    """Report `column` of the Recorder to `trial` after each epoch; stop the fit when the
    trial should be pruned (`self.pruned` then holds the epoch)."""
    order = 61  # after the Recorder (50) has stored the epoch's values, like fastai's TrackerCallback (60)
    remove_on_fetch = True

    def __init__(self, trial, column: str):
        self.trial, self.column, self.pruned, self.reported = trial, column, None, []

    def before_fit(self):
        names = list(self.learn.recorder.metric_names[1:])   # no 'epoch'
        if self.column not in names:
            from ..errors import ContextLMError
            known = [n for n in names if n != "time"]
            raise ContextLMError(f"this model records no {self.column!r} per epoch; it records {', '.join(known)}")
        self.idx = names.index(self.column)

    def after_epoch(self):
        value = float(self.learn.recorder.values[-1][self.idx])
        self.reported.append(value)
        if not math.isfinite(value):        # a diverged trial: nothing to compare, stop it
            self.pruned = self.epoch
            raise CancelFitException()
        self.trial.report(value, step=self.epoch)
        if self.trial.should_prune():
            self.pruned = self.epoch
            raise CancelFitException()
