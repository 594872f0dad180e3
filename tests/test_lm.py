"""The conditioned AWD-LSTM: fastai equivalence, feature path, save/load, sampling."""
import json
import warnings

import numpy as np
import pytest
import torch
from fastai.basics import set_seed
from fastai.text.models.awdlstm import AWD_LSTM
from fastai.text.models.core import get_language_model

from contextlm.errors import ContextLMError, ModelFolderError
from contextlm.lm.sampling import filter_logits
from contextlm.lm.learner import load_lm
from contextlm.lm.model import context_language_model

CFG = dict(emb_sz=16, n_hid=24, n_layers=2, pad_token=1, bidir=False, output_p=0.1, hidden_p=0.15, input_p=0.25,
           embed_p=0.02, weight_p=0.2, tie_weights=True, out_bias=True)


def test_without_features_it_is_fastais_awd_lstm():
    set_seed(0)
    ours = context_language_model(50, 0, CFG)
    set_seed(0)
    theirs = get_language_model(AWD_LSTM, 50, config=dict(CFG))
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), k
    x = torch.randint(0, 50, (3, 7))
    ours.eval(), theirs.eval()
    assert torch.allclose(ours(x)[0], theirs(x)[0])


def test_features_widen_only_the_first_lstm_and_change_the_output():
    model = context_language_model(50, 3, CFG).eval()
    assert model[0].rnns[0].module.input_size == 16 + 3
    assert model[0].rnns[1].module.input_size == 24
    x = torch.randint(0, 50, (2, 5))
    low, high = torch.zeros(2, 5, 3), torch.ones(2, 5, 3)
    model.reset()
    out_low = model(x, low)[0]
    model.reset()
    assert not torch.allclose(out_low, model(x, high)[0])


def test_features_are_not_dropped_by_input_dropout():
    model = context_language_model(50, 2, {**CFG, "input_p": 0.99, "embed_p": 0.99}).train()
    seen = {}
    model[0].rnns[0].register_forward_hook(lambda m, inp, out: seen.update(x=inp[0]))
    feats = torch.full((2, 4, 2), 0.7)
    model(torch.randint(0, 50, (2, 4)), feats)
    assert torch.equal(seen["x"][..., -2:], feats)


def test_wrong_feature_shape_is_a_clear_error():
    model = context_language_model(50, 2, CFG)
    with pytest.raises(ValueError, match=r"context must be \(bs=2, seq_len=5, 2: 2 features \+ 0 label ids\), "
                                         r"got \(2, 5, 1\)"):
        model(torch.randint(0, 50, (2, 5)), torch.zeros(2, 5, 1))


def test_save_load_gives_identical_logits(tiny_lm_dir):
    lm = load_lm(tiny_lm_dir)
    again = load_lm(tiny_lm_dir)
    x = torch.randint(0, len(lm.vocab), (3, 9))
    f = torch.rand(3, 9, 2)
    lm.model.reset(), again.model.reset()
    assert torch.equal(lm.model(x, f)[0], again.model(x, f)[0])
    cfg = json.loads((tiny_lm_dir / "config.json").read_text())
    assert cfg["kind"] == "context-lm" and cfg["feature_names"] == ["energy", "valence"]
    assert cfg["vocab"][:4] == ["xxunk", "xxpad", "xxbos", "xxeos"] and cfg["scaler"]["kind"] == "standard"


def test_learner_save_folder_round_trip_matches_the_trained_model(tmp_path, synthetic_csv):
    from contextlm.data.corpus import load_corpus
    from contextlm.lm.data import lm_dataloaders
    from contextlm.lm.learner import context_language_model_learner
    dls = lm_dataloaders(load_corpus(synthetic_csv, feature_cols=["energy"]), bs=8, seq_len=10, min_freq=1)
    learn = context_language_model_learner(dls, config=dict(emb_sz=8, n_hid=8, n_layers=1))
    x, f, _ = dls.one_batch()
    learn.model.eval(), learn.model.reset()
    before = learn.model(x, f)[0]
    lm = load_lm(learn.save_folder(tmp_path / "m"))
    lm.model.reset()
    assert torch.equal(before, lm.model(x, f)[0])


@pytest.mark.parametrize("damage, message", [
    ("missing", "no such model folder"),
    ("no_config", r"partial model folder: config.json is missing"),
    ("no_weights", r"partial model folder: model.pth is missing"),
    ("bad_json", "config.json: not valid JSON"),
    ("wrong_kind", r"holds a 'sentence-vae' model, expected 'context-lm'"),
    ("truncated", "model.pth: not a loadable state dict"),
    ("mismatch", r"weights do not match the config \(.*saved .* config builds"),
    ("pickle", "model.pth: (refused: loading it would need pickle|not a loadable state dict)"),
    ("negative_size", r"config.json is incomplete or inconsistent \(ValueError: emb_sz=-3: must be a whole number"),
    ("config_folder", "config.json"),
])
def test_broken_model_folders_give_one_clear_error(tmp_path, tiny_lm_dir, damage, message):
    import shutil
    folder = tmp_path / "m"
    shutil.copytree(tiny_lm_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    if damage == "missing":
        folder = tmp_path / "nothing"
    elif damage == "no_config":
        (folder / "config.json").unlink()
    elif damage == "no_weights":
        (folder / "model.pth").unlink()
    elif damage == "bad_json":
        (folder / "config.json").write_text("{oops")
    elif damage == "wrong_kind":
        (folder / "config.json").write_text(json.dumps({**cfg, "kind": "sentence-vae"}))
    elif damage == "truncated":
        data = (folder / "model.pth").read_bytes()
        (folder / "model.pth").write_bytes(data[: len(data) // 2])
    elif damage == "mismatch":
        (folder / "config.json").write_text(json.dumps({**cfg, "arch": {**cfg["arch"], "n_hid": 99}}))
    elif damage == "negative_size":
        (folder / "config.json").write_text(json.dumps({**cfg, "arch": {**cfg["arch"], "emb_sz": -3}}))
    elif damage == "config_folder":
        (folder / "config.json").unlink()
        (folder / "config.json").mkdir()
    elif damage == "pickle":  # an arbitrary pickled object must not be executed or accepted
        import pickle

        class Evil:
            def __reduce__(self):
                return (print, ("pwned",))
        (folder / "model.pth").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ModelFolderError, match=message):
        load_lm(folder)


def test_generation_is_batched_seeded_and_validates_features(tiny_lm_dir):
    lm = load_lm(tiny_lm_dir)
    a = lm.generate(5, {"energy": 0.9}, max_len=20, seed=3)
    assert a == lm.generate(5, {"energy": 0.9}, max_len=20, seed=3)
    assert len(a) == 5 and all(isinstance(t, str) for t in a)
    toks = lm.generate_tokens(40, {"energy": 0.2}, max_len=12, seed=1, bs=16)
    assert len(toks) == 40 and all(len(t) <= 12 for t in toks)
    assert not any("xxunk" in t or "xxpad" in t or "xxbos" in t or "xxfake" in t for t in toks)
    with pytest.raises(ContextLMError, match=r"unknown feature 'tempo' \(this model knows: energy, valence\)"):
        lm.generate(1, {"tempo": 120})
    with pytest.raises(ContextLMError, match=r"energy=1.5 is impossible: energy lies in \[0, 1\]"):
        lm.generate(1, {"energy": 1.5})


def test_prefix_starts_every_sample(tiny_lm_dir):
    lm = load_lm(tiny_lm_dir)
    toks = lm.generate_tokens(4, prefix="The drums", max_len=5, seed=0)
    assert all(t[:3] == ["xxmaj", "the", "drums"] for t in toks)


def test_level_outside_the_training_range_warns(tiny_lm_dir):
    lm = load_lm(tiny_lm_dir)
    lm.feature_stats["energy"]["max"] = 0.8
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lm.feature_vector({"energy": 0.95})
    assert any("outside the training range" in str(w.message) for w in caught)


def test_unset_features_are_held_at_the_training_mean(tiny_lm_dir):
    lm = load_lm(tiny_lm_dir)
    v = lm.feature_vector({"energy": 0.3})
    assert v[0] == pytest.approx(0.3) and v[1] == pytest.approx(lm.feature_stats["valence"]["mean"])


def test_top_k_and_top_p_filter_logits():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, top_k=2)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.7)).tolist() == [[False, False, True, True]]
    assert torch.isinf(filter_logits(logits, top_p=0.85)).tolist() == [[False, False, False, True]]
    assert not torch.isinf(filter_logits(logits)).any()


def test_a_corpus_without_features_trains_the_plain_awd_lstm(tmp_path, synthetic_csv):
    from contextlm.data.corpus import load_corpus
    from contextlm.lm.data import lm_dataloaders
    from contextlm.lm.learner import context_language_model_learner, evaluate_perplexity
    corpus = load_corpus(synthetic_csv)
    dls = lm_dataloaders(corpus, bs=8, seq_len=10, min_freq=1)
    assert dls.one_batch()[1].shape[-1] == 0
    learn = context_language_model_learner(dls, config=dict(emb_sz=8, n_hid=8, n_layers=1))
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    lm = load_lm(learn.save_folder(tmp_path / "plain"))
    assert not lm.conditioned and len(lm.generate(2, max_len=5, seed=0)) == 2
    res = evaluate_perplexity(lm, corpus.valid.text, corpus.features("valid"), 8, 10)
    assert np.isfinite(res["perplexity"]) and res["perplexity"] > 1


def test_detokenize_restores_case_and_repeats_and_caps_sampled_repeats():
    from contextlm.data.tokens import MAX_REPEAT, detokenize, tokenize
    toks = tokenize(["The BAND plays. Don't stop, it's great!"])[0]
    assert detokenize(toks) == "The BAND plays. Don't stop, it's great!"
    assert detokenize(["xxbos", "xxwrep", "3", "la"]) == "la la la"
    assert detokenize(["xxwrep", "2022", "remix"]).split() == ["remix"] * MAX_REPEAT
    assert detokenize(["xxmaj", "xxmaj", "song"]) == "Song"


def test_padding_and_vocab_fillers_are_never_sampled():
    from contextlm.data.tokens import Vocab
    v = Vocab(["xxunk", "xxpad", "xxbos", "xxeos", "song", "xxfake", "xxfake"])
    assert v.never_sampled == [1, 5, 6]


def test_keep_rows_slices_the_carried_state():
    """Rows kept after a few steps continue exactly as if they had run alone."""
    from contextlm.lm.sampling import keep_rows
    set_seed(3)
    model = context_language_model(50, 2, CFG).eval()
    x, f = torch.randint(0, 50, (4, 6)), torch.randn(4, 6, 2)
    model.reset()
    model(x[:, :5], f[:, :5])
    keep_rows(model, torch.tensor([1, 3]))
    shed = model(x[[1, 3], 5:], f[[1, 3], 5:])[0]
    model.reset()
    model(x[[1, 3], :5], f[[1, 3], :5])
    alone = model(x[[1, 3], 5:], f[[1, 3], 5:])[0]
    assert torch.allclose(shed, alone, atol=1e-6)


def test_dropping_finished_rows_changes_no_sample():
    """Greedy decoding (top_k=1) is deterministic, so a batch that sheds finished rows must
    give exactly what the full batch gives (here half the rows stop at once)."""
    from contextlm.lm.sampling import sample_ids
    set_seed(3)
    model = context_language_model(50, 1, CFG)
    feats = torch.linspace(-3, 3, 8).unsqueeze(1)
    first = sample_ids(model, [2], feats, max_len=12, top_k=1, banned_ids=[1], stop_ids=[2, 3])
    stop = first[0][0]  # the untrained model's greedy token for the lowest rows: make it a stop token
    full = sample_ids(model, [2], feats, max_len=12, top_k=1, stop_ids=[stop], banned_ids=[1], compact_below=0.0)
    shed = sample_ids(model, [2], feats, max_len=12, top_k=1, stop_ids=[stop], banned_ids=[1], compact_below=1.0)
    assert full == shed
    lengths = {len(s) for s in full}
    assert min(lengths) == 0 and max(lengths) == 12  # rows were shed while others ran on
