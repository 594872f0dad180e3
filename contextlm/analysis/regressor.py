"""How strongly text follows a feature: a TF-IDF + ridge regressor that reads a text
and predicts the feature (e.g. energy), fit on real text.

Scoring the samples of each level with it turns "the clouds look different" into
numbers: the mean predicted feature per level, and the AUC of telling a sample of the
lowest level from one of the highest (0.5 = indistinguishable, 1 = always right).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

TOKEN_PATTERN = r"(?u)\b\w[\w']*\b"  # words, keeping inner apostrophes (don't, rock'n'roll)


@dataclass
class LevelScores:
    """Predicted feature per level, and how well lowest and highest are told apart."""

    mean: dict[str, float]
    std: dict[str, float]
    n_docs: dict[str, int]
    auc: float | None  # lowest vs highest level; None when either has no documents


class FeatureRegressor:
    """TF-IDF (word unigrams + bigrams, sublinear tf) -> ridge regression."""

    def __init__(self, alpha: float = 3.0, min_df: int = 2, max_features: int = 100_000):
        self.params = {"alpha": alpha, "min_df": min_df, "max_features": max_features}
        self.pipeline = self._pipeline()

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        return make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=self.params["min_df"],
                            max_features=self.params["max_features"], token_pattern=TOKEN_PATTERN),
            self._estimator())

    def _estimator(self):
        from sklearn.linear_model import Ridge
        return Ridge(alpha=self.params["alpha"])

    @staticmethod
    def _target(y: Sequence) -> np.ndarray:
        return np.asarray(y, dtype=float)

    def fit(self, texts: Sequence[str], y: Sequence) -> "FeatureRegressor":
        texts, y = list(texts), self._target(y)
        if len(texts) < 4:
            raise ValueError(f"need at least 4 texts to fit the {type(self).__name__}, got {len(texts)}")
        try:
            self.pipeline.fit(texts, y)
        except ValueError:  # every word below min_df on a tiny corpus
            self.pipeline.set_params(tfidfvectorizer__min_df=1).fit(texts, y)
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict(list(texts)) if len(texts) else np.zeros(0)

    def cross_val_predict(self, texts: Sequence[str], y: Sequence, folds: int = 5, seed: int = 0,
                          groups: Sequence | None = None) -> np.ndarray:
        """Out-of-fold predictions, so real text is scored by a model that never saw it.

        With `groups` (e.g. album ids) the folds are GroupKFold's: titles of one album
        share words and feature values, so an album in its own training folds would leak."""
        from sklearn.model_selection import GroupKFold, KFold
        texts, y = np.asarray(list(texts), dtype=object), self._target(y)
        k = min(folds, len(texts) if groups is None else len(set(groups)))
        splitter = (KFold(n_splits=k, shuffle=True, random_state=seed) if groups is None
                    else GroupKFold(n_splits=k, shuffle=True, random_state=seed))
        out = np.empty(len(texts), dtype=y.dtype)
        for train, test in splitter.split(texts, y, groups):
            out[test] = type(self)(**self.params).fit(texts[train], y[train]).predict(texts[test])
        return out


class LabelClassifier(FeatureRegressor):
    """The same TF-IDF features -> multinomial logistic regression, for a label such as genre."""

    def __init__(self, C: float = 3.0, min_df: int = 2, max_features: int = 100_000):
        self.params = {"C": C, "min_df": min_df, "max_features": max_features}
        self.pipeline = self._pipeline()

    def _estimator(self):
        from sklearn.linear_model import LogisticRegression
        return LogisticRegression(C=self.params["C"], max_iter=1000)

    @staticmethod
    def _target(y: Sequence) -> np.ndarray:
        return np.asarray([str(v) for v in y], dtype=object)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.pipeline.predict(list(texts)) if len(texts) else np.zeros(0, dtype=object)


def auc(low: Sequence[float], high: Sequence[float]) -> float | None:
    """P(score of a random `high` sample > score of a random `low` one), ties half."""
    if len(low) == 0 or len(high) == 0:
        return None
    from sklearn.metrics import roc_auc_score
    labels = np.r_[np.zeros(len(low)), np.ones(len(high))]
    return float(roc_auc_score(labels, np.r_[np.asarray(low, float), np.asarray(high, float)]))


def score_levels(predictions: Mapping[str, Sequence[float]]) -> LevelScores:
    """Summaries of per-document predictions, levels given low to high."""
    labels = list(predictions)
    arrays = {k: np.asarray(v, dtype=float) for k, v in predictions.items()}
    return LevelScores(
        mean={k: float(a.mean()) if a.size else float("nan") for k, a in arrays.items()},
        std={k: float(a.std()) if a.size else float("nan") for k, a in arrays.items()},
        n_docs={k: int(a.size) for k, a in arrays.items()},
        auc=auc(arrays[labels[0]], arrays[labels[-1]]) if len(labels) >= 2 else None)
