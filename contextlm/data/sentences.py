"""Sentences in, length-bucketed batches out (sentence VAE, tense CVAE).

A sentence becomes `<bos> t1 .. tn <eos>` with n <= `max_len` tokens. Tokens are words
(fastai's spaCy rules, or whitespace for pre-tokenised corpora such as PTB) or
characters. Batches are `(tokens [B, T], lengths [B], [cond,] targets [B, T-1])`:
`lengths` count <bos> and <eos>, `targets = tokens[:, 1:]`, and `cond` is a float
matrix of scaled features or a long vector of label ids. Training batches group
sentences of similar length (little padding) and come in random order.

    vocab = SentenceVocab.build(train_texts, tokenizer="char")          # <pad> <bos> <eos> <unk> + chars
    dls = sentence_dataloaders(df, tokenizer="whitespace", max_len=40, bs=32)
    dls.vocab, dls.condition, dls.frames["train"]                      # what the learner needs
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader

from ..errors import ContextLMError, CorpusError, DatasetError
from .tokens import SPECIAL_TOKENS, build_vocab, detokenize, tokenize

TOKENIZERS = ("fastai", "whitespace", "char")
WORD_SPECIALS = SPECIAL_TOKENS[:4]                     # xxunk xxpad xxbos xxeos (fastai ids 0..3)
CHAR_SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
UNK_TEXT = "<unk>"                                     # how an unknown token is shown (PTB's spelling)


class SentenceVocab:
    """Token <-> id for words or characters, with <pad>/<bos>/<eos>/<unk> ids.

    Word vocabularies keep fastai's order (`xxunk xxpad xxbos xxeos`, so they agree with
    `contextlm.data.tokens.Vocab`); character vocabularies start `<pad> <bos> <eos> <unk>`."""

    def __init__(self, itos: Sequence[str], tokenizer: str = "fastai"):
        if tokenizer not in TOKENIZERS:
            raise ContextLMError(f"tokenizer={tokenizer!r}: expected one of {', '.join(TOKENIZERS)}")
        self.tokenizer, self.itos = tokenizer, list(itos)
        unk, pad, bos, eos = WORD_SPECIALS if self.level == "word" else (CHAR_SPECIALS[3], *CHAR_SPECIALS[:3])
        specials = WORD_SPECIALS if self.level == "word" else CHAR_SPECIALS
        if self.itos[:4] != specials:
            raise ContextLMError(f"{self.level} vocab must start with {specials}, got {self.itos[:4]}")
        self.stoi = {t: i for i, t in enumerate(self.itos) if t != "xxfake"}
        self.unk_id, self.pad_id, self.bos_id, self.eos_id = (self.stoi[t] for t in (unk, pad, bos, eos))

    @property
    def level(self) -> str:
        return "char" if self.tokenizer == "char" else "word"

    def __len__(self) -> int:
        return len(self.itos)

    @classmethod
    def build(cls, texts: Sequence[str], tokenizer: str = "fastai", min_freq: int = 1,
              max_vocab: int = 60000) -> "SentenceVocab":
        """Vocabulary of the given (training) texts; rarer tokens map to <unk>."""
        toks = tokenize_sentences(texts, tokenizer)
        return cls.from_tokens(toks, tokenizer, min_freq, max_vocab)

    @classmethod
    def from_tokens(cls, token_lists: Iterable[Sequence[str]], tokenizer: str, min_freq: int = 1,
                    max_vocab: int = 60000) -> "SentenceVocab":
        if tokenizer == "char":
            count = Counter(ch for toks in token_lists for ch in toks)
            chars = sorted(ch for ch, n in count.items() if n >= min_freq and ch not in CHAR_SPECIALS)
            return cls(CHAR_SPECIALS + chars[:max_vocab], tokenizer)
        return cls(build_vocab(token_lists, min_freq=min_freq, max_vocab=max_vocab), tokenizer)

    def special_ids(self) -> dict[str, int]:
        """`pad_id, bos_id, eos_id, unk_id` as keyword arguments for `VAEConfig`."""
        return dict(pad_id=self.pad_id, bos_id=self.bos_id, eos_id=self.eos_id, unk_id=self.unk_id)

    def tokenize(self, texts: Sequence[str]) -> list[list[str]]:
        return tokenize_sentences(texts, self.tokenizer)

    def numericalize(self, tokens: Sequence[str], max_len: int | None = None) -> list[int]:
        """`<bos> ids <eos>`, keeping at most `max_len` tokens between them."""
        ids = [self.stoi.get(t, self.unk_id) for t in tokens]
        return [self.bos_id, *(ids[:max_len] if max_len else ids), self.eos_id]

    def encode(self, texts: Sequence[str], max_len: int | None = None) -> list[list[int]]:
        return [self.numericalize(t, max_len) for t in self.tokenize(texts)]

    def decode(self, ids: Iterable[int]) -> str:
        """Readable text of an id list; stops at <eos>, drops <bos>/<pad>, shows <unk>."""
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
    def from_dict(cls, d: dict[str, Any]) -> "SentenceVocab":
        return cls(d["itos"], d["tokenizer"])


def tokenize_sentences(texts: Sequence[str], tokenizer: str) -> list[list[str]]:
    """Words by fastai's rules (without `xxbos`), whitespace-separated words (PTB's
    literal `<unk>` becomes the unknown token), or characters."""
    texts = [str(t) for t in texts]
    if tokenizer == "fastai":
        return tokenize(texts, add_bos=False) if texts else []
    if tokenizer == "whitespace":
        return [[WORD_SPECIALS[0] if w == UNK_TEXT else w for w in t.split()] for t in texts]
    if tokenizer == "char":
        return [list(t) for t in texts]
    raise ContextLMError(f"tokenizer={tokenizer!r}: expected one of {', '.join(TOKENIZERS)}")


@dataclass
class Condition:
    """What a sentence is conditioned on: nothing, scaled audio features, or a label.

    Saved with the model so `sample(features={"energy": 0.9})` is scaled as in training."""
    kind: str = "none"                       # none | features | labels
    names: list[str] = field(default_factory=list)
    scaler: dict[str, Any] | None = None     # FeatureScaler.to_dict() for features

    KINDS = ("none", "features", "labels")

    def __post_init__(self) -> None:
        if self.kind not in self.KINDS:
            raise ContextLMError(f"condition kind {self.kind!r}: expected one of {', '.join(self.KINDS)}")

    def model_kwargs(self) -> dict[str, int]:
        """`cond_sz` / `n_labels` for `VAEConfig`."""
        return {"features": {"cond_sz": len(self.names)}, "labels": {"n_labels": len(self.names)}}.get(self.kind, {})

    def encode(self, values: Any, n: int) -> torch.Tensor | None:
        """Condition tensor for `n` sentences from user values: a dict name -> value (or a
        raw feature matrix) for features, label names or ids for labels; None if unconditioned."""
        if self.kind == "none":
            if values is not None:
                raise ContextLMError("this model is not conditioned; drop the features/label argument")
            return None
        if values is None:
            raise ContextLMError(f"this model is conditioned on {self.kind} ({', '.join(self.names)}): give them")
        if self.kind == "labels":
            vals = [values] * n if isinstance(values, (str, int, np.integer)) else list(values)
            ids = [self.label_id(v) for v in vals]
            if len(ids) == 1 and n > 1:
                ids = ids * n
            return torch.tensor(ids, dtype=torch.long)
        from .corpus import FeatureScaler
        if isinstance(values, dict):
            unknown = sorted(set(values) - set(self.names))
            missing = [k for k in self.names if k not in values]
            if unknown or missing:
                raise ContextLMError(f"features: unknown {unknown} / missing {missing}; this model needs "
                                     f"{', '.join(self.names)}")
            values = [[float(values[k]) for k in self.names]]
        arr = np.asarray(values, dtype=np.float32).reshape(-1, len(self.names))
        if len(arr) == 1 and n > 1:
            arr = np.repeat(arr, n, 0)
        scaled = FeatureScaler.from_dict(self.scaler).transform(arr) if self.scaler else arr
        return torch.tensor(scaled, dtype=torch.float32)

    def label_id(self, value: str | int) -> int:
        if isinstance(value, (int, np.integer)):
            if not 0 <= int(value) < len(self.names):
                raise ContextLMError(f"label id {value}: must be in [0, {len(self.names)})")
            return int(value)
        if value not in self.names:
            raise ContextLMError(f"label {value!r}: unknown; known labels: {', '.join(self.names)}")
        return self.names.index(value)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "names": self.names, "scaler": self.scaler}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Condition":
        return cls(d.get("kind", "none"), list(d.get("names", [])), d.get("scaler"))


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(tokens [B, T], lengths [B])`, right-padded with `pad_id`."""
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    tokens = torch.full((len(seqs), int(lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        tokens[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return tokens, lengths


class SentenceDL(DataLoader):
    """fastai `DataLoader` of `(ids, cond)` items giving `(tokens, lengths, [cond,] targets)`.

    When shuffling, sentences are shuffled, cut into pools of `bs * bucket`, sorted by
    length inside each pool and batched, and the batches are shuffled: little padding,
    still random. Without shuffling, batches follow length order. `epoch_size` (shuffled
    loaders only) makes an epoch a fresh random subset of that many sentences: schedules
    and budgets in epochs on corpora too large for whole passes."""

    def __init__(self, dataset=None, pad_id: int = 1, has_cond: bool = False, bucket: int = 50,
                 epoch_size: int | None = None, **kwargs):
        super().__init__(dataset, **kwargs)
        self.pad_id, self.has_cond, self.bucket, self.epoch_size = pad_id, has_cond, bucket, epoch_size
        if epoch_size is not None and self.shuffle:
            if epoch_size < 1:
                raise ContextLMError(f"epoch_size={epoch_size}: must be >= 1")
            self.n = min(epoch_size, len(dataset))
        self.n_inp = 3 if has_cond else 2

    def new(self, dataset=None, cls=None, **kwargs):
        kwargs = {"pad_id": self.pad_id, "has_cond": self.has_cond, "bucket": self.bucket,
                  "epoch_size": self.epoch_size, **kwargs}
        return super().new(dataset, cls, **kwargs)

    def get_idxs(self) -> list[int]:
        length = lambda i: len(self.dataset[i][0])
        if not self.shuffle:
            return sorted(range(len(self.dataset)), key=length)
        idxs = list(range(len(self.dataset)))
        self.rng.shuffle(idxs)
        idxs, n = idxs[:self.n], self.n
        pool, bs = self.bs * self.bucket, self.bs  # pools are whole batches: only the last batch can be short
        batches = []
        for start in range(0, n, pool):
            chunk = sorted(idxs[start:start + pool], key=length)
            batches += [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
        short = [b for b in batches if len(b) < bs]
        batches = [b for b in batches if len(b) == bs]
        self.rng.shuffle(batches)
        return [i for b in batches + short for i in b]

    def create_item(self, i):
        return self.dataset[i]

    def do_batch(self, b):
        ids, conds = zip(*b)
        tokens, lengths = pad_batch(ids, self.pad_id)
        out = [tokens, lengths]
        if self.has_cond:
            first = conds[0]
            out.append(torch.tensor(np.stack(conds), dtype=torch.float32) if isinstance(first, np.ndarray)
                       else torch.tensor(conds, dtype=torch.long))
        return (*out, tokens[:, 1:])


class SentenceDataLoaders(DataLoaders):
    """Train/valid (and test, when present) sentence loaders plus what a model needs to
    read and write sentences: `vocab`, `condition`, `max_len`, and the sentence tables
    (`frames[split]`: text and the document's id/features/label) for neighbours and plots."""
    vocab: SentenceVocab
    condition: Condition
    max_len: int
    frames: dict[str, pd.DataFrame]

    @property
    def test(self) -> SentenceDL | None:
        return self.loaders[2] if len(self.loaders) > 2 else None


def sentence_dataloaders(df: pd.DataFrame, tokenizer: str = "fastai", vocab: SentenceVocab | None = None,
                         text_col: str = "text", split_col: str = "split", feature_cols: Sequence[str] = (),
                         label_col: str | None = None, scaling: str = "minmax", max_len: int = 30,
                         min_freq: int = 1, max_vocab: int = 60000, bs: int = 32, bucket: int = 50,
                         epoch_size: int | None = None, seed: int | None = None, device=None) -> SentenceDataLoaders:
    """Length-bucketed sentence DataLoaders from a table with a text and a split column
    (`Corpus.df`, `Corpus.sentences().df`, `read_ptb(...)`). The vocab and the feature
    scaler are fitted on the train split only. `epoch_size`: sentences per training epoch
    (a random subset each epoch; default all)."""
    if max_len < 1 or bs < 1:
        raise ContextLMError(f"max_len={max_len} and bs={bs} must be >= 1")
    if feature_cols and label_col:
        raise ContextLMError("condition on features or on a label column, not both")
    for col in [text_col, split_col, *feature_cols] + ([label_col] if label_col else []):
        if col not in df.columns:
            raise CorpusError(f"sentence table: no column {col!r} (columns: {', '.join(map(str, df.columns))})")
    splits = [s for s in ("train", "valid", "test") if (df[split_col] == s).any()]
    if splits[:2] != ["train", "valid"]:
        raise CorpusError(f"sentence table: column {split_col!r} needs train and valid rows, has {splits}")
    df = df.reset_index(drop=True)
    tokens = tokenize_sentences(df[text_col].tolist(), tokenizer)
    train_mask = (df[split_col] == "train").to_numpy()
    if vocab is None:
        vocab = SentenceVocab.from_tokens([t for t, m in zip(tokens, train_mask) if m], tokenizer, min_freq, max_vocab)
    elif vocab.tokenizer != tokenizer:
        raise ContextLMError(f"vocab tokenizer {vocab.tokenizer!r} differs from tokenizer={tokenizer!r}")

    condition, conds = Condition(), [None] * len(df)
    if feature_cols:
        from .corpus import FeatureScaler
        raw = df[list(feature_cols)].to_numpy(dtype=np.float32)
        scaler = FeatureScaler.fit(raw[train_mask], list(feature_cols), kind=scaling)
        condition = Condition("features", list(feature_cols), scaler.to_dict())
        conds = list(scaler.transform(raw))
    elif label_col:
        names = sorted(map(str, df.loc[train_mask, label_col].unique()))
        condition = Condition("labels", names)
        unknown = sorted(set(map(str, df[label_col])) - set(names))
        if unknown:
            raise CorpusError(f"sentence table: column {label_col!r}: labels {unknown[:5]} never occur in train")
        conds = [names.index(str(v)) for v in df[label_col]]

    ids = [vocab.numericalize(t, max_len) for t in tokens]
    loaders, frames = [], {}
    for split in splits:
        rows = np.flatnonzero((df[split_col] == split).to_numpy())
        items = [(ids[i], conds[i]) for i in rows]
        shuffle = split == "train"
        loaders.append(SentenceDL(items, pad_id=vocab.pad_id, has_cond=condition.kind != "none", bucket=bucket,
                                  epoch_size=epoch_size if shuffle else None, bs=min(bs, len(items)),
                                  shuffle=shuffle, drop_last=False))
        frames[split] = df.iloc[rows].reset_index(drop=True)
    if seed is not None:
        for i, dl in enumerate(loaders):
            dl.rng.seed(seed + i)
    dls = SentenceDataLoaders(*loaders, device=device)
    dls.vocab, dls.condition, dls.max_len, dls.frames = vocab, condition, max_len, frames
    dls.text_col, dls.label_col = text_col, label_col
    return dls


def read_ptb(folder: str | Path) -> pd.DataFrame:
    """PTB (Mikolov's preprocessed version): `ptb.{train,valid,test}.txt`, one sentence per
    line, already tokenised and lower-cased -> table `text, split` (use tokenizer='whitespace')."""
    folder = Path(folder)
    frames = []
    for split in ("train", "valid", "test"):
        path = folder / f"ptb.{split}.txt"
        if not path.exists():
            raise DatasetError(f"{path}: missing; a PTB folder holds ptb.train.txt, ptb.valid.txt, ptb.test.txt")
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        frames.append(pd.DataFrame({"text": [ln for ln in lines if ln], "split": split}))
    return pd.concat(frames, ignore_index=True)
