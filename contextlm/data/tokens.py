"""Words in, ids out: fastai's spaCy tokenizer and rules, a vocab built from the
training split only, and the way back to readable text.

The vocab is a plain list of strings (`itos`) so it travels in a model's JSON config.
Id 0 is `xxunk`, 1 `xxpad`, 2 `xxbos`, 3 `xxeos`, as in fastai.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import partial
from typing import Iterable, Sequence

import torch
from fastai.text.core import UNK, PAD, BOS, EOS, TK_MAJ, TK_UP, TK_REP, TK_WREP, defaults, lowercase, tokenize_texts
from fastai.text.data import make_vocab

SPECIAL_TOKENS = list(defaults.text_spec_tok)
UNK_ID, PAD_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
_PARALLEL_FROM = 5000  # below this many texts, worker processes cost more than they save


def tokenize(texts: Sequence[str], add_bos: bool = True, n_workers: int | None = None) -> list[list[str]]:
    """Tokenize with fastai's defaults (spaCy rules, `xxmaj`/`xxup`/`xxrep` markers).

    Each text starts with `xxbos` when `add_bos` (fastai's LM convention: the next
    document's `xxbos` marks where the previous one ended)."""
    rules = [r if r is not lowercase else partial(lowercase, add_bos=add_bos) for r in defaults.text_proc_rules]
    if n_workers is None:
        n_workers = defaults.cpus if len(texts) >= _PARALLEL_FROM else 0
    return [list(t) for t in tokenize_texts(list(texts), n_workers=n_workers, rules=rules)]


def build_vocab(token_lists: Iterable[Sequence[str]], min_freq: int = 2, max_vocab: int = 60000) -> list[str]:
    """fastai's `make_vocab` over token counts of the *training* texts only
    (so validation words never leak into the vocab and perplexity stays honest)."""
    count = Counter(tok for toks in token_lists for tok in toks)
    return list(make_vocab(count, min_freq=min_freq, max_vocab=max_vocab))


class Vocab:
    """`itos`/`stoi` with unknown words mapped to `xxunk` (id 0)."""

    def __init__(self, itos: Sequence[str]):
        self.itos = list(itos)
        if self.itos[:4] != [UNK, PAD, BOS, EOS]:
            raise ValueError(f"vocab must start with {[UNK, PAD, BOS, EOS]}, got {self.itos[:4]}")
        self.stoi = {w: i for i, w in enumerate(self.itos) if w != "xxfake"}
        # padding and fastai's `xxfake` vocab fillers (to a multiple of 8) are never text
        self.never_sampled = [PAD_ID] + [i for i, w in enumerate(self.itos) if w == "xxfake"]

    def __len__(self) -> int:
        return len(self.itos)

    def numericalize(self, tokens: Sequence[str]) -> torch.Tensor:
        return torch.tensor([self.stoi.get(t, UNK_ID) for t in tokens], dtype=torch.long)

    def textify(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]


MAX_REPEAT = 16  # longest repeat `detokenize` expands
_NO_SPACE_BEFORE = re.compile(r" (?=[.,!?;:%)\]}]|n't\b|'s\b|'re\b|'ve\b|'m\b|'ll\b|'d\b)")
_NO_SPACE_AFTER = re.compile(r"(?<=[(\[{$]) ")


def detokenize(tokens: Iterable[str]) -> str:
    """Undo fastai's markers (`xxmaj`, `xxup`, `xxrep`, `xxwrep`), drop other special
    tokens and join words the way people write them."""
    tokens = list(tokens)
    words: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        t = tokens[i]
        if t in (TK_MAJ, TK_UP) and i + 1 < n and tokens[i + 1] not in SPECIAL_TOKENS:
            nxt = tokens[i + 1]
            words.append(nxt.upper() if t == TK_UP else nxt[:1].upper() + nxt[1:])
            i += 2
            continue
        if t in (TK_REP, TK_WREP) and i + 2 < n and tokens[i + 1].isdigit():
            # a sampled marker can be followed by any number token ("xxwrep 2022 remix"): cap it
            count, what = min(int(tokens[i + 1]), MAX_REPEAT), tokens[i + 2]
            words.append(what * count if t == TK_REP else " ".join([what] * count))
            i += 3
            continue
        if not (t.startswith("xx") and t in SPECIAL_TOKENS + ["xxfake"]):
            words.append(t)
        i += 1
    text = " ".join(words)
    return _NO_SPACE_AFTER.sub("", _NO_SPACE_BEFORE.sub("", text)).strip()
