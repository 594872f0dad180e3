"""Which word differences are real: weighted log-odds ratios with an informative
Dirichlet prior (Monroe, Colaresi & Quinn 2008, "Fightin' Words", eq. 16-22).

Raw frequency differences over-rank rare words and proportions over-rank common ones;
shrinking every word's log-odds toward a prior and dividing by its standard error gives
a z-score per word and level that can be read as "how surprising is this word here".
Each level is compared with all other levels pooled (one vs rest); with two levels the
z-scores of one are the negatives of the other's.
"""
from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np
import pandas as pd

LOG_ODDS_COLUMNS = ["level", "word", "count", "log_odds", "z"]


def count_matrix(counts: Mapping[str, Counter]) -> pd.DataFrame:
    """Words x levels table of counts (0 where a level never used a word)."""
    frame = pd.DataFrame({level: pd.Series(c, dtype="float64") for level, c in counts.items()})
    return frame.fillna(0.0).sort_index()


def weighted_log_odds(counts: Mapping[str, Counter], prior: Mapping[str, float] | None = None,
                      alpha0: float | None = None) -> pd.DataFrame:
    """Per level and word: the count, the shrunken log-odds ratio (level vs the rest)
    and its z-score, sorted by level then z (most distinctive first).

    `prior` gives background counts per word (default: the pooled counts of all levels,
    the usual choice when no reference corpus is at hand); `alpha0` rescales them to that
    total pseudo-count (default: left as they are). Words missing from `prior` get a
    pseudo-count of 0.5 so nothing divides by zero.
    """
    if len(counts) < 2:
        raise ValueError("weighted log-odds needs at least two levels to compare")
    y = count_matrix(counts)
    if y.empty:
        return pd.DataFrame(columns=LOG_ODDS_COLUMNS)
    alpha = y.sum(axis=1) if prior is None else pd.Series(prior, dtype="float64").reindex(y.index)
    alpha = alpha.fillna(0.0).clip(lower=0.0).replace(0.0, 0.5)
    if alpha0 is not None:
        alpha = alpha * (alpha0 / alpha.sum())
    a0 = alpha.sum()
    total_w = y.sum(axis=1)
    n_total = total_w.sum()
    frames = []
    for level in y.columns:
        yi, ni = y[level], y[level].sum()
        yj, nj = total_w - yi, n_total - ni
        li = np.log((yi + alpha) / (ni + a0 - yi - alpha))
        lj = np.log((yj + alpha) / (nj + a0 - yj - alpha))
        delta = li - lj
        z = delta / np.sqrt(1.0 / (yi + alpha) + 1.0 / (yj + alpha))
        frames.append(pd.DataFrame({"level": level, "word": y.index, "count": yi.astype(int).values,
                                    "log_odds": delta.values, "z": z.values}))
    out = pd.concat(frames, ignore_index=True)
    order = {level: i for i, level in enumerate(y.columns)}
    out["_o"] = out["level"].map(order)
    out = out.sort_values(["_o", "z", "word"], ascending=[True, False, True]).drop(columns="_o")
    return out.reset_index(drop=True)


def distinctive(table: pd.DataFrame, level: str, k: int = 10, min_z: float | None = None) -> pd.DataFrame:
    """The `k` words with the highest z for `level` (optionally only those above `min_z`)."""
    rows = table[(table["level"] == level) & (table["count"] > 0)]
    if min_z is not None:
        rows = rows[rows["z"] >= min_z]
    return rows.nlargest(k, "z")
