"""The independent judge of conditioning: does text carry the context it was made for?

A model conditioned on energy is only worth it if its samples at low and high energy
differ the way real texts do. The judge is a TF-IDF reader (`FeatureRegressor`, or
`LabelClassifier` for a label such as genre) fitted on the real training texts only, so
it has seen neither the samples nor the held-out texts it scores, and it is not part
of any model it judges. Two kinds of figures come out of it:

- the ceiling: how well the judge tells the lowest fifth from the highest fifth of real
  texts (album-grouped out-of-fold), i.e. what the text itself holds;
- the samples' score: the same judge on samples generated at the low and high values.

`distinct_n` and `copy_rate` catch the two cheap ways to please a judge: repeating a
few phrases, and copying training texts.
"""
from __future__ import annotations

import math
import re
from typing import Mapping, Sequence

import numpy as np

from .regressor import TOKEN_PATTERN, FeatureRegressor, LabelClassifier, auc


class TextJudge:
    """A feature (ridge) or label (logistic) reader of text; fit it on real training texts only."""

    def __init__(self, categorical: bool = False, **params):
        self.categorical = categorical
        self.model = LabelClassifier(**params) if categorical else FeatureRegressor(**params)

    def fit(self, texts: Sequence[str], values: Sequence) -> "TextJudge":
        self.model.fit(texts, values)
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict(texts)

    def out_of_fold(self, texts: Sequence[str], values: Sequence, groups: Sequence, folds: int = 5,
                    seed: int = 0) -> np.ndarray:
        """Each text predicted by a judge fitted on the other folds (no group in two folds)."""
        return self.model.cross_val_predict(texts, values, folds=folds, seed=seed, groups=groups)


def extreme_fifths(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the lowest and highest fifth by value (ties at a cut go in)."""
    v = np.asarray(values, dtype=float)
    lo, hi = np.quantile(v, [0.2, 0.8])
    return v <= lo, v >= hi


def ceiling_auc(texts: Sequence[str], values: Sequence[float], groups: Sequence, folds: int = 5,
                seed: int = 0, **params) -> float:
    """AUC of out-of-fold predictions, lowest vs highest fifth of the true value: the most
    the judge can see of the feature in real text, and the target for samples."""
    oof = TextJudge(**params).out_of_fold(texts, values, groups, folds, seed)
    low, high = extreme_fifths(values)
    return auc(oof[low], oof[high])


def ceiling_accuracy(texts: Sequence[str], labels: Sequence, groups: Sequence, folds: int = 5,
                     seed: int = 0, **params) -> float:
    """Accuracy of out-of-fold label predictions on real texts (compare with `majority_share`)."""
    labels = np.asarray([str(v) for v in labels], dtype=object)
    oof = TextJudge(categorical=True, **params).out_of_fold(texts, labels, groups, folds, seed)
    return float(np.mean(oof == labels))


def majority_share(labels: Sequence) -> float:
    """Accuracy of always guessing the most common label: the floor for `*_accuracy`."""
    _, counts = np.unique(np.asarray([str(v) for v in labels]), return_counts=True)
    return float(counts.max() / counts.sum())


def auc_standard_error(a: float, n_low: int, n_high: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC from n_low vs n_high texts: says
    whether a sample AUC below the ceiling is a miss or noise (83 test lyrics: about 0.1)."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return math.sqrt((a * (1 - a) + (n_high - 1) * (q1 - a * a) + (n_low - 1) * (q2 - a * a)) / (n_low * n_high))


def sample_auc(judge: TextJudge, low_texts: Sequence[str], high_texts: Sequence[str]) -> float | None:
    """AUC of the judge's predictions, samples made at the high value vs at the low value
    (0.5: the judge cannot tell them apart; None when either list is empty)."""
    return auc(judge.predict(low_texts), judge.predict(high_texts))


def sample_accuracy(judge: TextJudge, texts_by_label: Mapping[str, Sequence[str]]) -> float:
    """Share of samples whose label the judge reads back as the one they were made for."""
    hits = total = 0
    for label, texts in texts_by_label.items():
        pred = judge.predict(texts)
        hits += int(np.sum(pred == str(label)))
        total += len(pred)
    return hits / total if total else float("nan")


_WORD = re.compile(TOKEN_PATTERN)
_SPACE = re.compile(r"\s+")


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams / all n-grams over all texts (Li et al. 2016), lowercased words as
    the judge reads them; n-grams do not cross texts. 0.0 when no text has n words."""
    seen, total = set(), 0
    for text in texts:
        w = _WORD.findall(text.lower())
        grams = [tuple(w[i:i + n]) for i in range(len(w) - n + 1)]
        seen.update(grams)
        total += len(grams)
    return len(seen) / total if total else 0.0


def normalise(text: str) -> str:
    """Lowercase, whitespace collapsed and stripped: what counts as 'the same text'."""
    return _SPACE.sub(" ", text.lower()).strip()


def copy_rate(samples: Sequence[str], training_texts: Sequence[str]) -> float:
    """Share of samples equal to some training text after `normalise` (NaN with no samples)."""
    if not len(samples):
        return float("nan")
    train = {normalise(t) for t in training_texts}
    return sum(normalise(s) in train for s in samples) / len(samples)
