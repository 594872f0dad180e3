"""ContextLanguageModelLoader: every token carries its own document's features."""
import random

import numpy as np
import pytest
import torch

from contextlm.lm.data import ContextLanguageModelLoader


def _docs(n_docs=40, seed=0, max_len=15):
    """Document d is made of token id 10 + d repeated: the id says which document a token is from."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(1, max_len, size=n_docs)
    return [torch.full((int(n),), 10 + d, dtype=torch.long) for d, n in enumerate(lens)]


def _features(n_docs, n_features):
    """Feature j of document d is 10 + d + 1000 * j, so it can be checked against the token id."""
    return np.stack([np.arange(n_docs) + 10 + 1000 * j for j in range(n_features)], 1).astype(np.float32)


def _assert_aligned(dl, n_features):
    seen = 0
    for x, f, y in dl:
        assert x.shape == y.shape and f.shape == (*x.shape, n_features)
        for j in range(n_features):
            assert torch.equal(f[..., j], x.float() + 1000 * j), "a token carries another document's features"
        seen += x.numel()
    return seen


@pytest.mark.parametrize("bs, seq_len, n_features", [(1, 5, 1), (4, 7, 1), (8, 3, 3), (3, 100, 2), (16, 1, 1)])
@pytest.mark.parametrize("shuffle", [False, True])
def test_features_follow_tokens(bs, seq_len, n_features, shuffle):
    random.seed(bs * seq_len)  # fastai shuffles documents with Python's global random
    docs = _docs()
    dl = ContextLanguageModelLoader(docs, _features(len(docs), n_features), bs=bs, seq_len=seq_len, shuffle=shuffle)
    for _ in range(2):  # a second epoch reshuffles the documents
        seen = _assert_aligned(dl, n_features)
        total = sum(len(d) for d in docs)
        assert seen == (total - 1) // bs * bs  # fastai drops the tail that does not fill all bs streams


def test_windows_cross_document_boundaries_and_last_batch_is_partial():
    docs = _docs(n_docs=30, max_len=6)
    dl = ContextLanguageModelLoader(docs, _features(30, 1), bs=2, seq_len=8, shuffle=False)
    batches = list(dl)
    assert any(len(torch.unique(x)) > 1 for x, _, _ in batches), "no window spans two documents"
    assert batches[-1][0].shape[1] < 8, "expected a shorter last batch"
    _assert_aligned(dl, 1)


def test_shuffle_changes_the_document_order():
    docs = _docs(n_docs=60)
    dl = ContextLanguageModelLoader(docs, _features(60, 1), bs=4, seq_len=10, shuffle=True)
    random.seed(1)
    first = torch.cat([x.flatten() for x, _, _ in dl])
    second = torch.cat([x.flatten() for x, _, _ in dl])
    assert not torch.equal(first, second)


def test_batches_have_two_inputs_for_the_learner():
    docs = _docs()
    dl = ContextLanguageModelLoader(docs, _features(len(docs), 2), bs=4, seq_len=5)
    assert dl.n_inp == 2 and dl.n_features == 2


def test_new_keeps_the_feature_table_and_refuses_a_dataset_without_one():
    docs = _docs()
    dl = ContextLanguageModelLoader(docs, _features(len(docs), 1), bs=4, seq_len=5)
    _assert_aligned(dl.new(bs=2, seq_len=9), 1)
    with pytest.raises(ValueError, match="needs its doc_features"):
        dl.new(dataset=docs[:10])


def test_feature_table_must_match_the_documents():
    with pytest.raises(ValueError, match=r"doc_features must be \(n_docs=40, n_features\)"):
        ContextLanguageModelLoader(_docs(), np.zeros((39, 1)), bs=4, seq_len=5)


def test_label_ids_are_one_plus_the_train_index_and_zero_when_unknown_or_missing():
    import pandas as pd
    from contextlm.lm.data import encode_labels, label_vocab
    train = pd.DataFrame({"genre": ["rock", "pop", None, "rock", " "]})
    names = label_vocab(train, ["genre"])
    assert names == {"genre": ["pop", "rock"]}
    ids = encode_labels({"genre": ["rock", "pop", "jazz", None, float("nan"), pd.NA]}, names, 6)
    assert ids.dtype == np.float32 and ids[:, 0].tolist() == [2, 1, 0, 0, 0, 0]
