"""PNG plots for sentence VAEs: training curves and a 2-D map of the latent space.

Both take plain data (a history DataFrame, a matrix of means) so they work from a
notebook, the CLI, or a saved run alike; matplotlib runs headless (Agg).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import ContextLMError


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_vae_history(history: pd.DataFrame, path: str | Path, smooth: int = 20,
                     title: str = "Sentence VAE training") -> Path:
    """Reconstruction NLL and KL per sentence (left axes, smoothed over `smooth` batches)
    and the KL weight beta (right axis) for every training batch; posterior collapse
    shows as KL falling to 0 while beta rises."""
    missing = {"iter", "recon", "kl", "beta"} - set(history.columns)
    if missing:
        raise ContextLMError(f"history lacks columns {sorted(missing)} (use learn.vae_history.df)")
    if history.empty:
        raise ContextLMError("history is empty: train the learner first")
    plt = _plt()
    fig, (ax_r, ax_k) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    roll = lambda s: s.rolling(max(1, smooth), min_periods=1).mean()
    ax_r.plot(history["iter"], roll(history["recon"]), color="tab:blue", label="recon NLL")
    ax_r.set_ylabel("recon NLL / sentence (nats)")
    ax_r.set_title(title)
    ax_k.plot(history["iter"], roll(history["kl"]), color="tab:red", label="KL")
    ax_k.set_ylabel("KL / sentence (nats)")
    ax_k.set_xlabel("training batch")
    ax_b = ax_k.twinx()
    ax_b.plot(history["iter"], history["beta"], color="tab:gray", ls="--", label="beta")
    ax_b.set_ylabel("beta")
    ax_b.set_ylim(-0.05, max(1.05, float(history["beta"].max()) * 1.05))
    lines = ax_k.get_lines() + ax_b.get_lines()
    ax_k.legend(lines, [ln.get_label() for ln in lines], loc="upper right")
    return _save(fig, plt, path)


def plot_latent(means: np.ndarray, values: Sequence[float] | None, path: str | Path, feature: str = "",
                method: str = "pca", labels: Sequence[str] | None = None, title: str = "Latent means") -> Path:
    """Scatter the posterior means projected to 2-D (`pca`, or `tsne` for non-linear
    structure), coloured by a feature value per sentence; `labels` annotates a few points."""
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ContextLMError(f"need at least 2 latent means as an [n, d] matrix, got shape {means.shape}")
    if values is not None and len(values) != len(means):
        raise ContextLMError(f"{len(values)} feature values for {len(means)} sentences")
    xy = project_2d(means, method)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=values if values is not None else "tab:blue", cmap="viridis", s=12, alpha=0.8)
    if values is not None:
        fig.colorbar(sc, ax=ax, label=feature or "feature")
    for (x, y), text in zip(xy, labels or []):
        ax.annotate(text[:40], (x, y), fontsize=7, alpha=0.8)
    ax.set_xlabel(f"{method.upper()} 1")
    ax.set_ylabel(f"{method.upper()} 2")
    ax.set_title(f"{title}{' coloured by ' + feature if feature else ''}")
    return _save(fig, plt, path)


def project_2d(means: np.ndarray, method: str = "pca") -> np.ndarray:
    """[n, 2] projection of latent means (PCA keeps distances readable; t-SNE clusters)."""
    if method not in ("pca", "tsne"):
        raise ContextLMError(f"method={method!r}: use pca or tsne")
    if means.shape[1] == 1:
        return np.hstack([means, np.zeros_like(means)])
    if method == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=2).fit_transform(means)
    from sklearn.manifold import TSNE
    return TSNE(n_components=2, perplexity=min(30.0, max(2.0, (len(means) - 1) / 3)), init="pca",
                random_state=0).fit_transform(means)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
