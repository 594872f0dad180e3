"""The LM's training picture: smoothed training loss per batch and validation loss per epoch."""
from __future__ import annotations

from pathlib import Path


def plot_lm_losses(recorder, path: str | Path, title: str = "LM") -> Path:
    """Cross-entropy curves from a fastai `Recorder` (train: smoothed, per batch; valid: per epoch)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(recorder.losses)), [float(x) for x in recorder.losses], label="train (smoothed)")
    if recorder.values:
        iters = [len(recorder.losses) * (i + 1) / len(recorder.values) for i in range(len(recorder.values))]
        ax.plot(iters, [v[1] for v in recorder.values], "o-", label="valid")
    ax.set(xlabel="batches", ylabel="cross-entropy", title=title)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
