"""Sentences in, length-bucketed batches out (sentence VAE, tense CVAE).

A sentence becomes `<bos> t1 .. tn <eos>` with n <= `max_len` tokens. Tokens are words
(fastai's spaCy rules, or whitespace for pre-tokenised corpora such as PTB) or
characters. Batches are `(tokens [B, T], lengths [B], [cond,] targets [B, T-1])`:
`lengths` count <bos> and <eos>, `targets = tokens[:, 1:]`, and `cond` is a float
matrix of scaled features or a long vector of label ids. Training batches group
sentences of similar length (little padding) and come in random order.

    vocab = Vocab.build(train_texts, tokenizer="char")                 # <pad> <bos> <eos> <unk> + chars
    dls = sentence_dataloaders(df, tokenizer="whitespace", max_len=40, bs=32)
    dls.vocab, dls.condition, dls.frames["train"]                      # what the learner needs
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader

from ..errors import ContextLMError, CorpusError, DatasetError
from ..conditioning import Condition, feature_stats
from ..data.tokens import Vocab, tokenize_texts


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
    vocab: Vocab
    condition: Condition
    max_len: int
    frames: dict[str, pd.DataFrame]

    @property
    def test(self) -> SentenceDL | None:
        return self.loaders[2] if len(self.loaders) > 2 else None


def sentence_dataloaders(df: pd.DataFrame, tokenizer: str = "fastai", vocab: Vocab | None = None,
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
    tokens = tokenize_texts(df[text_col].tolist(), tokenizer)
    train_mask = (df[split_col] == "train").to_numpy()
    if vocab is None:
        vocab = Vocab.from_tokens([t for t, m in zip(tokens, train_mask) if m], tokenizer, min_freq, max_vocab)
    elif vocab.tokenizer != tokenizer:
        raise ContextLMError(f"vocab tokenizer {vocab.tokenizer!r} differs from tokenizer={tokenizer!r}")

    condition, conds = Condition(), [None] * len(df)
    if feature_cols:
        from ..data.corpus import FeatureScaler
        raw = df[list(feature_cols)].to_numpy(dtype=np.float32)
        scaler = FeatureScaler.fit(raw[train_mask], list(feature_cols), kind=scaling)
        condition = Condition("features", list(feature_cols), scaler.to_dict(),
                              feature_stats(raw[train_mask], list(feature_cols)))
        conds = list(scaler.transform(raw))
    elif label_col:
        names = sorted(map(str, df.loc[train_mask, label_col].unique()))
        condition = Condition("labels", names)
        unknown = sorted(set(map(str, df[label_col])) - set(names))
        if unknown:
            raise CorpusError(f"sentence table: column {label_col!r}: labels {unknown[:5]} never occur in train")
        conds = [names.index(str(v)) for v in df[label_col]]

    ids = [vocab.sentence_ids(t, max_len) for t in tokens]
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
