"""What every trainer shares (LM, sentence VAE, tense CVAE): `fit_one_cycle`, with fastai's
progress bars and table, or silently for tests and benchmarks, and with checkpoints and
resume (`contextlm.experiments.checkpoints`) when given a `Checkpoints` plan."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .experiments.checkpoints import Checkpoints


def history_frame(recorder):
    """The Recorder's per-epoch values as a table (epoch, train_loss, valid_loss, metrics...):
    the `history.csv` of every trainer."""
    import pandas as pd
    names = list(recorder.metric_names[1:-1])  # no 'epoch', no 'time'
    rows = [[None if x is None else float(x) for x in v] for v in recorder.values]
    df = pd.DataFrame(rows, columns=names)
    df.insert(0, "epoch", range(len(df)))
    return df


def fit_one_cycle(learn, epochs: int, lr: float, progress: bool = True, checkpoint: "Checkpoints | None" = None) -> None:
    """`learn.fit_one_cycle(epochs, lr)`; `progress=False` hides the bars and the per-epoch table.

    With `checkpoint`, a checkpoint is written at the end of every epoch (and every
    `checkpoint.save_every` batches), and a plan opened with `resume=True` on an existing
    checkpoint continues from it: weights and optimizer loaded, `start_epoch` given to fastai,
    the rest (random state, loader order, history, position inside the epoch) put back by the
    checkpoint callback. The plan's lock is held while fitting when this call opened it."""
    cbs, start, opened = None, 0, False
    if checkpoint is not None:
        opened = checkpoint._lock is None
        cb = checkpoint.attach(learn)
        cbs, start = [cb], cb.start_epoch
    try:
        if progress:
            learn.fit_one_cycle(epochs, lr, cbs=cbs, start_epoch=start)
            return
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(epochs, lr, cbs=cbs, start_epoch=start)
    finally:
        if opened:
            checkpoint.close()
