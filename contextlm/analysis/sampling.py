"""Sample about `n_words` words of text from a model at each level, in batches.

Each level gets its own seed stream derived from (seed, the level's feature values and labels),
so a level's samples are the same whichever other levels are asked for, and a rerun
with the same seed reproduces every file.
"""
from __future__ import annotations

import math
import sys
import time
import warnings
import zlib
from typing import Mapping, Sequence

from .counts import words
from .levels import Level


def level_seed(seed: int, features: Mapping[str, float], round_: int = 0,
               labels: Mapping[str, str] | None = None) -> int:
    """A 31-bit seed for one level and sampling round. Labels extend the key only when
    given, so feature-only levels keep the seeds (and samples) they always had."""
    key = f"{seed}|{round_}|" + "|".join(f"{k}={float(v)!r}" for k, v in sorted(features.items()))
    if labels:
        key += "|labels|" + "|".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return zlib.crc32(key.encode()) & 0x7FFFFFFF


def _clip(text: str, max_words: int) -> str:
    """At most `max_words` words. A sample holds at most max_len tokens, so more words can
    only come from a sampled repeat marker (`xxwrep 2022 remix` detokenizes to 2,022
    words), which would otherwise swamp the counts of a whole level."""
    parts = text.split()
    return text if len(parts) <= max_words else " ".join(parts[:max_words])


def sample_words(lm, features: Mapping[str, float], n_words: int, seed: int = 0, batch_size: int = 256,
                 max_rounds: int = 50, progress: bool = False, labels: Mapping[str, str] | None = None,
                 **gen_kwargs) -> list[str]:
    """Generate whole documents at `features` and `labels` until they hold at least
    `n_words` words; `gen_kwargs` go to `lm.generate` (temperature, guidance, ...).

    The first round is one batch; later rounds size themselves from the words per
    document seen so far (at least a batch: a sampling step costs about the same for
    one row or a batch). Documents past the one that reaches `n_words` are dropped."""
    texts: list[str] = []
    total, n_next = 0, batch_size
    for round_ in range(max_rounds):
        # later rounds run everything still needed as one batch (up to 4x): a batch runs until
        # its longest text ends, so short texts (titles) waste fewer steps in fewer, wider batches
        bs = min(max(n_next, batch_size), 4 * batch_size)
        batch = lm.generate(n_next, dict(features), labels=dict(labels or {}) or None,
                            seed=level_seed(seed, features, round_, labels), bs=bs, progress=progress, **gen_kwargs)
        for text in batch:
            text = _clip(text, gen_kwargs.get("max_len") or 60)
            texts.append(text)
            total += len(words(text))
            if total >= n_words:
                return texts
        per_doc = max(total / max(len(texts), 1), 0.5)
        # a step costs about the same for 1 or `batch_size` rows: never ask for less than a batch
        n_next = max(batch_size, math.ceil((n_words - total) / per_doc * 1.1))
    return texts  # the model keeps ending documents at once; return what there is


def sample_levels(lm, levels: Sequence[Level], n_words: int, seed: int = 0, batch_size: int = 256,
                  log=print, **gen_kwargs) -> tuple[dict[str, list[str]], dict[str, float], dict[str, float]]:
    """Texts per level label, and the wall-clock and CPU seconds each level took to sample
    (both: on a shared machine the wall clock mostly measures the other jobs). The
    sampler's warnings (e.g. guidance on a model trained without context dropout) are
    logged once each, as the command's own warnings."""
    texts, seconds, cpu = {}, {}, {}
    seen: set[str] = set()
    for lv in levels:
        t0, c0 = time.perf_counter(), time.process_time()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # out-of-range levels were already reported once, by check_levels
            warnings.filterwarnings("ignore", message=".*outside the training range", category=UserWarning)
            texts[lv.label] = sample_words(lm, lv.features, n_words, seed=seed, batch_size=batch_size,
                                           progress=sys.stderr.isatty(), labels=lv.labels, **gen_kwargs)
        for w in caught:
            if not issubclass(w.category, UserWarning):  # a library's deprecation: not ours to reword
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif str(w.message) not in seen:
                seen.add(str(w.message))
                log(f"contextlm: warning: {w.message}")
        seconds[lv.label], cpu[lv.label] = time.perf_counter() - t0, time.process_time() - c0
        n = sum(len(words(t)) for t in texts[lv.label])
        log(f"sampled {lv.label}: {n:,} words in {len(texts[lv.label]):,} texts "
            f"({seconds[lv.label]:.1f} s, {cpu[lv.label]:.1f} s CPU)")
    return texts, seconds, cpu
