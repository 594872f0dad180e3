"""Texts per level in, everything the word-cloud report needs out: counts, the
log-odds table, and (when a regressor scored the texts) the predicted feature per level.

Model samples and real-text bins go through the same function, so what the model
produces and what people wrote are measured the same way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .counts import WordFilter, count_words
from .levels import Level
from .logodds import weighted_log_odds
from .regressor import LevelScores, score_levels

WORD_COLUMNS = ["level", "value", "word", "count", "per_10k", "log_odds", "z"]


@dataclass
class Comparison:
    """The levels, their texts and counts, and the statistics comparing them."""

    feature: str
    levels: list[Level]
    texts: dict[str, list[str]]
    counts: dict[str, Counter]
    n_words: dict[str, int]          # words before filtering
    log_odds: pd.DataFrame           # weighted_log_odds(): level, word, count, log_odds, z
    scores: LevelScores | None = None

    @property
    def labels(self) -> list[str]:
        return [lv.label for lv in self.levels]

    def n_kept(self, label: str) -> int:
        return int(sum(self.counts[label].values()))

    def words_table(self) -> pd.DataFrame:
        """Every (level, word) pair with its count, rate per 10,000 kept words and
        log-odds z; sorted by level (low to high) then count."""
        values = {lv.label: lv.value for lv in self.levels}
        t = self.log_odds.copy()
        t["value"] = t["level"].map(values)
        kept = {lb: max(self.n_kept(lb), 1) for lb in self.labels}
        t["per_10k"] = t["count"] / t["level"].map(kept) * 10_000
        order = {lb: i for i, lb in enumerate(self.labels)}
        t["_o"] = t["level"].map(order)
        t = t.sort_values(["_o", "count", "z", "word"], ascending=[True, False, False, True])
        return t[WORD_COLUMNS].reset_index(drop=True)

    def top_words(self, label: str, k: int) -> list[tuple[str, int]]:
        return sorted(self.counts[label].items(), key=lambda kv: (-kv[1], kv[0]))[:k]

    def distinctive(self, label: str, k: int, min_z: float = 1.96) -> list[tuple[str, float]]:
        """Up to `k` words over-used at this level with z >= `min_z` (two-sided 5%)."""
        rows = self.log_odds[(self.log_odds["level"] == label) & (self.log_odds["count"] > 0)
                             & (self.log_odds["z"] >= min_z)].nlargest(k, "z")
        return list(zip(rows["word"], rows["z"].astype(float)))


def compare(levels: Sequence[Level], texts: Mapping[str, Sequence[str]], keep: WordFilter | None = None,
            predictions: Mapping[str, Sequence[float]] | None = None,
            prior: Mapping[str, float] | None = None) -> Comparison:
    """Count the kept words of each level's texts, compute weighted log-odds between
    levels and summarise per-document feature predictions if given."""
    levels = list(levels)
    if len(levels) < 2:
        raise ValueError("need at least two levels to compare")
    counts, totals = {}, {}
    for lv in levels:
        counts[lv.label], totals[lv.label] = count_words(texts[lv.label], keep)
    table = weighted_log_odds(counts, prior=prior)
    scores = None
    if predictions is not None:
        scores = score_levels({lv.label: np.asarray(predictions[lv.label], float) for lv in levels})
    return Comparison(feature=levels[0].feature, levels=levels, texts={k: list(v) for k, v in texts.items()},
                      counts=counts, n_words=totals, log_odds=table, scores=scores)
