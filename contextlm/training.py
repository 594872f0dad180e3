"""What every trainer shares (LM, sentence VAE, tense CVAE): `fit_one_cycle`, with fastai's
progress bars and table, or silently for tests and benchmarks."""
from __future__ import annotations


def fit_one_cycle(learn, epochs: int, lr: float, progress: bool = True) -> None:
    """`learn.fit_one_cycle(epochs, lr)`; `progress=False` hides the bars and the per-epoch table."""
    if progress:
        learn.fit_one_cycle(epochs, lr)
        return
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr)
