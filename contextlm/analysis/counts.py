"""Words out of text, filtered the way Rhodes did (stopwords, punctuation, numbers)
plus fastai's special tokens, and counted per level.

Words are found with one regular expression on lower-cased text, so generated samples
and real corpora are counted the same way; contractions stay whole ("don't"), as in
NLTK's list, and hyphenated words stay whole ("hip-hop").
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from ..data.tokens import SPECIAL_TOKENS

WORD_RE = re.compile(r"[^\W_]+(?:['\-][^\W_]+)*")
NUMBER_RE = re.compile(r"^\d+(?:[.,\-]\d+)*(?:s|st|nd|rd|th|k|m)?$")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'"})
_SPECIAL = frozenset(SPECIAL_TOKENS) | {"xxfake"}
# fastai/spaCy split "don't" into "do n't"; a sampled "n't" left on its own is no word
_FRAGMENTS = frozenset({"n't"})


def words(text: str) -> list[str]:
    """Lower-cased words of a text (punctuation dropped, contractions kept whole)."""
    return WORD_RE.findall(text.translate(_APOSTROPHES).lower())


@dataclass(frozen=True)
class WordFilter:
    """Keeps the words worth counting: not a stopword, not a number, not a special token."""

    stopwords: frozenset[str] = frozenset()
    drop_numbers: bool = True

    def keep(self, word: str) -> bool:
        if word in self.stopwords or word in _SPECIAL or word in _FRAGMENTS:
            return False
        if self.drop_numbers and NUMBER_RE.match(word):
            return False
        return any(c.isalpha() for c in word)


def count_words(texts: Iterable[str], keep: WordFilter | None = None) -> tuple[Counter, int]:
    """Counts of kept words over `texts`, and the number of words before filtering."""
    keep = keep or WordFilter()
    counts: Counter = Counter()
    total = 0
    for text in texts:
        ws = words(text)
        total += len(ws)
        counts.update(w for w in ws if keep.keep(w))
    return counts, total
