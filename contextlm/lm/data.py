"""DataLoaders for the conditioned language model.

`ContextLanguageModelLoader` is fastai's `LMDataLoader` plus a per-document context
table (scaled numeric features, then label ids as floats). fastai lays the documents
out as `bs` parallel streams and cuts windows out of them through `Chunks`, whose
`cumlens` map a stream position to its document; the table is looked up through the
same map (and the same document order after a shuffle), so every input token carries
its own document's context, also when a window crosses a document boundary. Batches
are `(tokens, context, targets)` with `n_inp == 2`, so fastai's `Learner` calls
`model(tokens, context)`.

Data-parallel training (`contextlm.distributed`): `loader.shard(rank, world)` makes the loader
read only rows `[rank*bs/world, (rank+1)*bs/world)` of every batch of the same `bs`-stream
layout, so the ranks' token positions are disjoint, their union is the single-process epoch,
and the feature lookup is the single-process one (a document is split between two ranks only
where fastai's layout already splits it between two rows).

Labels (`label_cols`, e.g. playlist_genre): each column's vocabulary is the sorted set of
values in the *train* split; a document's label becomes `1 + its index`. Id 0 means
"unknown": a missing value, or a value of the valid/test split that training never saw
(like `xxunk` for words: held-out data may hold new labels, and the model's embedding of
id 0 is fixed at zero). Asking `generate` for an unknown label is an error instead.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.text.data import LMDataLoader, LMTensorText
from fastai.torch_core import TensorBase, default_device

from ..data.corpus import Corpus, FeatureScaler
from ..data.tokens import Vocab, build_vocab, tokenize
from ..errors import CorpusError


class ContextLanguageModelLoader(LMDataLoader):
    """fastai LM loader whose batches are `((tokens, context), targets)`: tokens `(bs, seq_len)`,
    context `(bs, seq_len, n_features)` (each token's document's row of `doc_features`:
    features, then label ids), targets `(bs, seq_len)`."""

    def __init__(self, dataset: Sequence[torch.Tensor], doc_features, lens=None, cache=2, bs=64, seq_len=72,
                 num_workers=0, **kwargs):
        feats = torch.as_tensor(np.asarray(doc_features, dtype=np.float32))
        if feats.ndim != 2 or len(feats) != len(dataset):
            raise ValueError(f"doc_features must be (n_docs={len(dataset)}, n_features), got {tuple(feats.shape)}")
        self.doc_features = feats
        self.rank, self.world = 0, 1
        super().__init__(dataset, lens=lens, cache=cache, bs=bs, seq_len=seq_len, num_workers=num_workers, **kwargs)
        self.streams = bs

    def shard(self, rank: int, world: int) -> "ContextLanguageModelLoader":
        """Read only this rank's block of `streams / world` rows from now on (in place, so the
        shuffle state and the document order stay those of the whole loader); `shard(0, 1)` undoes it."""
        if self.streams % world or not 0 <= rank < world:
            raise ValueError(f"bs={self.streams} streams cannot be split into {world} equal shards (rank {rank})")
        self.rank, self.world = rank, world
        self.bs = self.streams // world
        self.n = self.n_batches * self.bs
        return self

    @property
    def n_features(self) -> int:
        return self.doc_features.shape[1]

    def make_chunks(self):
        super().make_chunks()
        self._doc_order = torch.as_tensor(np.asarray(list(self.items.idxs), dtype=np.int64))

    def create_item(self, seq):
        if seq is None:
            seq = 0
        if seq >= self.n:
            raise IndexError
        batch, row = divmod(seq, self.bs)
        row += self.rank * self.bs          # the stream in the whole `streams`-row layout
        sl = self.last_len if batch == self.n_batches - 1 else self.seq_len
        st = row * self.bl + batch * self.seq_len
        txt = self.chunks[st: st + sl + 1]
        # Same lookup as Chunks.doc_idx: stream position -> document (in the current order).
        docs = np.searchsorted(self.chunks.cumlens, np.arange(st, st + sl) + 1) - 1
        feats = self.doc_features[self._doc_order[docs]]
        return LMTensorText(txt[:-1]), TensorBase(feats), txt[1:]

    def new(self, dataset=None, seq_len=None, doc_features=None, **kwargs):
        if doc_features is None:
            if dataset is not None:
                raise ValueError("a ContextLanguageModelLoader over a new dataset needs its doc_features")
            doc_features = self.doc_features
        kwargs.setdefault("bs", self.streams)   # a new loader is whole; shard it again if needed
        return super().new(dataset=dataset, seq_len=seq_len, doc_features=doc_features, **kwargs)


def numericalize_split(df, vocab: Vocab, tokens: list[list[str]] | None = None) -> list[torch.Tensor]:
    """Token ids of every document of a split (tokenized once, up front)."""
    tokens = tokenize(df["text"].tolist()) if tokens is None else tokens
    return [vocab.numericalize(t) for t in tokens]


def label_vocab(df, label_cols: Sequence[str]) -> dict[str, list[str]]:
    """Each label column's known values (sorted, as strings; missing values left out)."""
    return {col: sorted({str(v) for v in df[col] if not _missing(v)}) for col in label_cols}


def encode_labels(values: Mapping[str, Sequence[Any]], label_names: Mapping[str, Sequence[str]],
                  n: int) -> np.ndarray:
    """Label ids `(n, n_label_cols)` as float32: `1 + index` in `label_names[col]`, 0 for a
    missing value or one not in the vocabulary (see the module docstring)."""
    out = np.zeros((n, len(label_names)), np.float32)
    for j, (col, names) in enumerate(label_names.items()):
        index = {name: i + 1 for i, name in enumerate(names)}
        col_values = list(values[col])
        if len(col_values) != n:
            raise CorpusError(f"label column {col!r}: {len(col_values)} values for {n} documents")
        out[:, j] = [0 if _missing(v) else index.get(str(v), 0) for v in col_values]
    return out


def _missing(value: Any) -> bool:
    import pandas as pd
    return value is None or (not isinstance(value, str) and bool(pd.isna(value))) or not str(value).strip()


def context_table(features: np.ndarray, scaler: FeatureScaler, labels: Mapping[str, Sequence[Any]] | None,
                  label_names: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Per-document context rows: scaled features, then label ids."""
    scaled = scaler.transform(features)
    if not label_names:
        return scaled
    if labels is None:
        raise CorpusError(f"this model is conditioned on labels ({', '.join(label_names)}): give their values")
    return np.concatenate([scaled, encode_labels(labels, label_names, len(scaled))], 1)


def lm_loader(ids: list[torch.Tensor], features: np.ndarray, bs: int, seq_len: int, shuffle: bool,
              device=None) -> ContextLanguageModelLoader:
    """One loader over numericalized documents and their context rows."""
    return ContextLanguageModelLoader(ids, features, bs=bs, seq_len=seq_len, shuffle=shuffle,
                                      device=device if device is not None else default_device())


def lm_dataloaders(corpus: Corpus, bs: int = 32, seq_len: int = 70, min_freq: int = 2, max_vocab: int = 60000,
                   scaling: str = "standard", vocab: Sequence[str] | None = None, scaler: FeatureScaler | None = None,
                   device=None, label_cols: Sequence[str] = (),
                   label_names: Mapping[str, Sequence[str]] | None = None) -> DataLoaders:
    """Train/valid `DataLoaders` for a corpus; vocab, feature scaling and label vocabularies
    come from the training split only (pass `vocab`/`scaler`/`label_names` to reuse a
    trained model's). `label_cols` are columns the corpus carries (`keep_cols`).

    The returned object carries `vocab` (list of tokens), `feature_names`, `scaler`,
    `feature_stats`, `label_names` (column -> known values, id = 1 + index) and `source`,
    everything a saved model needs to read new text."""
    train_tok = tokenize(corpus.train["text"].tolist())
    itos = list(vocab) if vocab is not None else build_vocab(train_tok, min_freq=min_freq, max_vocab=max_vocab)
    voc = Vocab(itos)
    if scaler is None:
        scaler = FeatureScaler.fit(corpus.features("train"), corpus.feature_cols, scaling)
    label_cols = list(label_names or label_cols)
    if missing := [c for c in label_cols if c not in corpus.df.columns]:
        raise CorpusError(f"{corpus.source}: no label column {missing[0]!r} in the corpus "
                          f"(load it with keep_cols={label_cols})")
    if label_names is None:
        label_names = label_vocab(corpus.train, label_cols)
        if empty := [c for c, names in label_names.items() if not names]:
            raise CorpusError(f"{corpus.source}: label column {empty[0]!r} has no value in the train split")
    label_names = {c: list(label_names[c]) for c in label_cols}
    loaders = []
    for split, tokens, shuffle in (("train", train_tok, True), ("valid", None, False)):
        df = corpus.part(split)
        ids = numericalize_split(df, voc, tokens)
        table = context_table(corpus.features(split), scaler, df, label_names)
        loaders.append(lm_loader(ids, table, bs, seq_len, shuffle, device))
    dls = DataLoaders(*loaders, device=device if device is not None else default_device())
    dls.vocab, dls.feature_names, dls.scaler, dls.label_names = itos, list(corpus.feature_cols), scaler, label_names
    dls.feature_stats, dls.source = corpus.feature_stats("train"), corpus.source
    return dls
