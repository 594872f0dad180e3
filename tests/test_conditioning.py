"""Conditioning really works: on the synthetic corpus (wording graded by energy) the
conditioned model beats its unconditioned twin and writes more high-energy words at
energy 0.9 than at 0.1. Fixed seeds; tiny models (measured margins: perplexity ratio
0.88, high-energy word rate 0.05 at energy 0.1 vs 0.19 at 0.9)."""
import pytest
from fastai.basics import set_seed

from contextlm.data.corpus import load_corpus
from contextlm.lm.data import lm_dataloaders
from contextlm.data.synthetic import HIGH_ENERGY_WORDS
from contextlm.lm.learner import context_language_model_learner, evaluate_perplexity


@pytest.fixture(scope="module")
def twins(synthetic_csv):
    corpus = load_corpus(synthetic_csv, feature_cols=["energy"])
    set_seed(0)
    dls = lm_dataloaders(corpus, bs=16, seq_len=30, min_freq=1)
    out = {}
    for use_features in (True, False):
        set_seed(0)
        learn = context_language_model_learner(dls, use_features=use_features, drop_mult=0.2,
                                               config=dict(emb_sz=32, n_hid=64, n_layers=1))
        with learn.no_bar(), learn.no_logging():
            learn.fit_one_cycle(5, 3e-2)
        lm = learn.trained_lm()
        out[use_features] = (lm, evaluate_perplexity(lm, corpus.valid.text, corpus.features("valid"), 16, 30))
    return out


def test_conditioned_perplexity_is_lower(twins):
    (_, cond), (_, base) = twins[True], twins[False]
    assert cond["tokens"] == base["tokens"]
    assert cond["perplexity"] < 0.97 * base["perplexity"], (cond, base)


def _high_energy_rate(lm, energy):
    toks = [w for t in lm.generate_tokens(120, {"energy": energy}, max_len=40, seed=0) for w in t]
    return sum(w in HIGH_ENERGY_WORDS for w in toks) / len(toks)


def test_samples_at_high_energy_use_more_high_energy_words(twins):
    lm = twins[True][0]
    low, high = _high_energy_rate(lm, 0.1), _high_energy_rate(lm, 0.9)
    assert high > 2 * low, (low, high)


def test_unconditioned_samples_do_not_depend_on_energy(twins):
    lm = twins[False][0]
    assert lm.generate(6, {"energy": 0.1}, seed=2) == lm.generate(6, {"energy": 0.9}, seed=2)
