"""Shared fixtures: a synthetic corpus generated in code and a tiny trained LM folder."""
from __future__ import annotations

import pytest

TINY_LM_CONFIG = dict(emb_sz=32, n_hid=64, n_layers=2)


@pytest.fixture(autouse=True, scope="session")
def session_run_registry(tmp_path_factory):
    """The same for module- and session-scoped fixtures, which run before `run_registry`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CONTEXTLM_RUNS", str(tmp_path_factory.mktemp("session_registry")))
        yield


@pytest.fixture(autouse=True)
def run_registry(tmp_path_factory, monkeypatch):
    """Training commands record their runs; in tests, into a temporary registry, never ./runs/."""
    monkeypatch.setenv("CONTEXTLM_RUNS", str(tmp_path_factory.mktemp("registry")))


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory):
    """800 synthetic reviews (energy-dependent wording) as a CSV file."""
    from contextlm.data.synthetic import synthetic_reviews
    path = tmp_path_factory.mktemp("corpus") / "reviews.csv"
    synthetic_reviews(800, seed=1).to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory, synthetic_csv):
    """A tiny energy+valence-conditioned model folder, trained for one epoch (seconds)."""
    from fastai.basics import set_seed
    from contextlm.data.corpus import load_corpus
    from contextlm.lm.data import lm_dataloaders
    from contextlm.lm.learner import context_language_model_learner
    set_seed(0)
    corpus = load_corpus(synthetic_csv, feature_cols=["energy", "valence"])
    dls = lm_dataloaders(corpus, bs=32, seq_len=30, min_freq=1)
    learn = context_language_model_learner(
        dls, config=TINY_LM_CONFIG,
        train_data={"path": str(synthetic_csv), "text_col": "text", "feature_cols": ["energy", "valence"]})
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-2)
    return learn.save_folder(tmp_path_factory.mktemp("models") / "tiny_lm")
