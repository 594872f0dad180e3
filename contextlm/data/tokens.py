"""Words in, ids out: fastai's spaCy tokenizer and rules (or whitespace, or characters),
one `Vocab` built from the training split only, and the way back to readable text.

The vocab is a plain list of strings (`itos`) so it travels in a model's JSON config.
Word ids 0..3 are `xxunk xxpad xxbos xxeos`, as in fastai.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import partial
from typing import Any, Iterable, Sequence

import torch
from fastai.text.core import UNK, PAD, BOS, EOS, TK_MAJ, TK_UP, TK_REP, TK_WREP, defaults, lowercase
from fastai.text.core import tokenize_texts as fastai_tokenize_texts
from fastai.text.data import make_vocab

from ..errors import ContextLMError

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
    return [list(t) for t in fastai_tokenize_texts(list(texts), n_workers=n_workers, rules=rules)]


def build_vocab(token_lists: Iterable[Sequence[str]], min_freq: int = 2, max_vocab: int = 60000) -> list[str]:
    """fastai's `make_vocab` over token counts of the *training* texts only
    (so validation words never leak into the vocab and perplexity stays honest)."""
    count = Counter(tok for toks in token_lists for tok in toks)
    return list(make_vocab(count, min_freq=min_freq, max_vocab=max_vocab))


TOKENIZERS = ("fastai", "whitespace", "char")
WORD_SPECIALS = SPECIAL_TOKENS[:4]                     # xxunk xxpad xxbos xxeos (fastai ids 0..3)
CHAR_SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
UNK_TEXT = "<unk>"                                     # how an unknown token is shown (PTB's spelling)


def tokenize_texts(texts: Sequence[str], tokenizer: str = "fastai", add_bos: bool = False) -> list[list[str]]:
    """Words by fastai's rules, whitespace-separated words (PTB's literal `<unk>` becomes the
    unknown token), or characters."""
    texts = [str(t) for t in texts]
    if tokenizer == "fastai":
        return tokenize(texts, add_bos=add_bos) if texts else []
    if tokenizer == "whitespace":
        return [[WORD_SPECIALS[0] if w == UNK_TEXT else w for w in t.split()] for t in texts]
    if tokenizer == "char":
        return [list(t) for t in texts]
    raise ContextLMError(f"tokenizer={tokenizer!r}: expected one of {', '.join(TOKENIZERS)}")


class Vocab:
    """Token <-> id for words (fastai's rules or whitespace) or characters: the one vocabulary
    of the language model and the sentence VAEs.

    Word vocabularies keep fastai's order (`xxunk xxpad xxbos xxeos` = ids 0..3); character
    vocabularies start `<pad> <bos> <eos> <unk>`. Unknown tokens map to the unknown id."""

    def __init__(self, itos: Sequence[str], tokenizer: str = "fastai"):
        if tokenizer not in TOKENIZERS:
            raise ContextLMError(f"tokenizer={tokenizer!r}: expected one of {', '.join(TOKENIZERS)}")
        self.tokenizer, self.itos = tokenizer, list(itos)
        specials = WORD_SPECIALS if self.level == "word" else CHAR_SPECIALS
        if self.itos[:4] != specials:
            raise ContextLMError(f"{self.level} vocab must start with {specials}, got {self.itos[:4]}")
        self.stoi = {t: i for i, t in enumerate(self.itos) if t != "xxfake"}
        unk, pad, bos, eos = WORD_SPECIALS if self.level == "word" else (CHAR_SPECIALS[3], *CHAR_SPECIALS[:3])
        self.unk_id, self.pad_id, self.bos_id, self.eos_id = (self.stoi[t] for t in (unk, pad, bos, eos))
        # padding and fastai's `xxfake` vocab fillers (to a multiple of 8) are never text
        self.never_sampled = [self.pad_id] + [i for i, w in enumerate(self.itos) if w == "xxfake"]

    @property
    def level(self) -> str:
        return "char" if self.tokenizer == "char" else "word"

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: str = "fastai", min_freq: int = 1,
              max_vocab: int = 60000) -> "Vocab":
        """Vocabulary of the given (training) texts; rarer tokens map to the unknown id."""
        return cls.from_tokens(tokenize_texts(texts, tokenizer), tokenizer, min_freq, max_vocab)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]], tokenizer: str = "fastai", min_freq: int = 1,
                    max_vocab: int = 60000) -> "Vocab":
        if tokenizer == "char":
            count = Counter(ch for toks in token_lists for ch in toks)
            chars = sorted(ch for ch, n in count.items() if n >= min_freq and ch not in CHAR_SPECIALS)
            return cls(CHAR_SPECIALS + chars[:max_vocab], tokenizer)
        return cls(build_vocab(token_lists, min_freq=min_freq, max_vocab=max_vocab), tokenizer)

    def special_ids(self) -> dict[str, int]:
        """`pad_id, bos_id, eos_id, unk_id` as keyword arguments for `VAEConfig`."""
        return dict(pad_id=self.pad_id, bos_id=self.bos_id, eos_id=self.eos_id, unk_id=self.unk_id)

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        """Sentence tokens (no `xxbos`) by this vocabulary's tokenizer."""
        return tokenize_texts(texts, self.tokenizer)

    def numericalize(self, tokens: Sequence[str]) -> torch.Tensor:
        """Ids of `tokens` as a tensor (the language model's stream)."""
        return torch.tensor([self.stoi.get(t, self.unk_id) for t in tokens], dtype=torch.long)

    def sentence_ids(self, tokens: Sequence[str], max_len: int | None = None) -> list[int]:
        """`<bos> ids <eos>`, keeping at most `max_len` tokens between them (a VAE sentence)."""
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return [self.bos_id, *(ids[:max_len] if max_len else ids), self.eos_id]

    def encode(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        return [self.sentence_ids(t, max_len) for t in self.tokenize(texts)]

    def unknown_words(self, text: str) -> list[str]:
        """The tokens of `text` this vocabulary reads as unknown (fastai's markers excluded)."""
        toks = tokenize_texts([text], self.tokenizer)[0] if str(text).strip() else []
        return [t for t in toks if t not in self.stoi and not (t.startswith("xx") and t in SPECIAL_TOKENS)]

    def textify(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[int(i)] for i in ids]

    def decode(self, ids: Iterable[int]) -> str:
        """Readable text of a sentence's ids; stops at <eos>, drops <bos>/<pad>, shows <unk>."""
        toks = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.bos_id, self.pad_id) or self.itos[i] == "xxfake":
                continue
            toks.append(UNK_TEXT if i == self.unk_id else self.itos[i])
        if self.tokenizer == "char":
            return "".join(toks)
        return detokenize(toks) if self.tokenizer == "fastai" else " ".join(toks)

    def to_dict(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer, "itos": self.itos}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | list[str]) -> "Vocab":
        """From `to_dict()`, or a plain token list (LM folders store `itos` alone)."""
        return cls(d) if isinstance(d, list) else cls(d["itos"], d["tokenizer"])


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
