"""DataLoaders for the conditioned language model.

`ContextLanguageModelLoader` is fastai's `LMDataLoader` plus a per-document feature
table. fastai lays the documents out as `bs` parallel streams and cuts windows out of
them through `Chunks`, whose `cumlens` map a stream position to its document; the
table is looked up through the same map (and the same document order after a
shuffle), so every input token carries its own document's features, also when a
window crosses a document boundary. Batches are `(tokens, features, targets)` with
`n_inp == 2`, so fastai's `Learner` calls `model(tokens, features)`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.text.data import LMDataLoader, LMTensorText
from fastai.torch_core import TensorBase, default_device

from ..data.corpus import Corpus, FeatureScaler
from ..data.tokens import Vocab, build_vocab, tokenize


class ContextLanguageModelLoader(LMDataLoader):
    """fastai LM loader whose batches are `((tokens, features), targets)`:
    tokens `(bs, seq_len)`, features `(bs, seq_len, n_features)`, targets `(bs, seq_len)`."""

    def __init__(self, dataset: Sequence[torch.Tensor], doc_features, lens=None, cache=2, bs=64, seq_len=72,
                 num_workers=0, **kwargs):
        feats = torch.as_tensor(np.asarray(doc_features, dtype=np.float32))
        if feats.ndim != 2 or len(feats) != len(dataset):
            raise ValueError(f"doc_features must be (n_docs={len(dataset)}, n_features), got {tuple(feats.shape)}")
        self.doc_features = feats
        super().__init__(dataset, lens=lens, cache=cache, bs=bs, seq_len=seq_len, num_workers=num_workers, **kwargs)

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
        sl = self.last_len if seq // self.bs == self.n_batches - 1 else self.seq_len
        st = (seq % self.bs) * self.bl + (seq // self.bs) * self.seq_len
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
        return super().new(dataset=dataset, seq_len=seq_len, doc_features=doc_features, **kwargs)


def numericalize_split(df, vocab: Vocab, tokens: list[list[str]] | None = None) -> list[torch.Tensor]:
    """Token ids of every document of a split (tokenized once, up front)."""
    tokens = tokenize(df["text"].tolist()) if tokens is None else tokens
    return [vocab.numericalize(t) for t in tokens]


def lm_loader(ids: list[torch.Tensor], features: np.ndarray, bs: int, seq_len: int, shuffle: bool,
              device=None) -> ContextLanguageModelLoader:
    """One loader over numericalized documents and their scaled feature rows."""
    return ContextLanguageModelLoader(ids, features, bs=bs, seq_len=seq_len, shuffle=shuffle,
                                      device=device if device is not None else default_device())


def lm_dataloaders(corpus: Corpus, bs: int = 32, seq_len: int = 70, min_freq: int = 2, max_vocab: int = 60000,
                   scaling: str = "standard", vocab: Sequence[str] | None = None, scaler: FeatureScaler | None = None,
                   device=None) -> DataLoaders:
    """Train/valid `DataLoaders` for a corpus; vocab and feature scaling come from the
    training split only (pass `vocab`/`scaler` to reuse a trained model's).

    The returned object carries `vocab` (list of tokens), `feature_names`, `scaler`,
    `feature_stats` and `source`, everything a saved model needs to read new text."""
    train_tok = tokenize(corpus.train["text"].tolist())
    itos = list(vocab) if vocab is not None else build_vocab(train_tok, min_freq=min_freq, max_vocab=max_vocab)
    voc = Vocab(itos)
    if scaler is None:
        scaler = FeatureScaler.fit(corpus.features("train"), corpus.feature_cols, scaling)
    loaders = []
    for split, tokens, shuffle in (("train", train_tok, True), ("valid", None, False)):
        df = corpus.part(split)
        ids = numericalize_split(df, voc, tokens)
        loaders.append(lm_loader(ids, scaler.transform(corpus.features(split)), bs, seq_len, shuffle, device))
    dls = DataLoaders(*loaders, device=device if device is not None else default_device())
    dls.vocab, dls.feature_names, dls.scaler = itos, list(corpus.feature_cols), scaler
    dls.feature_stats, dls.source = corpus.feature_stats("train"), corpus.source
    return dls
