"""The lab's two scores, computed exactly as the course does, so figures compare with
its anchors (BLEU-4 0.93, Gaussian score 0.32).

* `bleu4`: character-level BLEU of one output word against one reference with NLTK's
  `sentence_bleu` and smoothing method 1. Like the lab's `compute_bleu`, a 3-letter
  reference is scored with 3-gram weights (0.33, 0.33, 0.33) — a 4-gram cannot fit in it.
* `gaussian_score`: the share of generated 4-tuples (one z decoded in sp, tp, pg, p)
  that equal a line of the training set. The lab's loop counts a tuple once per
  matching line, so duplicated training lines can count twice; here a tuple counts at
  most once, which keeps the score in [0, 1]. `distinct_matches` says how many
  different verbs were hit (a model that always writes the same verb scores 1.0 too).
"""
from __future__ import annotations

from typing import Iterable, Sequence

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

_SMOOTH = SmoothingFunction().method1


def bleu4(output: str, reference: str) -> float:
    """Character-level BLEU-4 of `output` against `reference` (the lab's `compute_bleu`)."""
    weights = (0.33, 0.33, 0.33) if len(reference) == 3 else (0.25, 0.25, 0.25, 0.25)
    return float(sentence_bleu([reference], output, weights=weights, smoothing_function=_SMOOTH))


def mean_bleu4(outputs: Sequence[str], references: Sequence[str]) -> float:
    """Mean `bleu4` over aligned outputs and references."""
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} outputs for {len(references)} references")
    if not outputs:
        raise ValueError("no outputs to score")
    return sum(bleu4(o, r) for o, r in zip(outputs, references)) / len(outputs)


def gaussian_score(generated: Sequence[Sequence[str]], train_lines: Iterable[Sequence[str]]) -> float:
    """Share of generated (sp, tp, pg, p) tuples equal to some training line."""
    if not generated:
        raise ValueError("no generated tuples to score")
    known = {tuple(line) for line in train_lines}
    return sum(tuple(g) in known for g in generated) / len(generated)


def distinct_matches(generated: Sequence[Sequence[str]], train_lines: Iterable[Sequence[str]]) -> int:
    """How many different training lines the generated tuples hit."""
    known = {tuple(line) for line in train_lines}
    return len({tuple(g) for g in generated} & known)


def exact_accuracy(outputs: Sequence[str], references: Sequence[str]) -> float:
    """Share of outputs spelled exactly like their reference."""
    if len(outputs) != len(references):
        raise ValueError(f"{len(outputs)} outputs for {len(references)} references")
    if not outputs:
        raise ValueError("no outputs to score")
    return sum(o == r for o, r in zip(outputs, references)) / len(outputs)
