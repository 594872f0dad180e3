"""Where the context enters the LM (input, document start, logits, projection, labels),
context dropout, classifier-free guidance, scoring, and model folders old and new."""
import json
import warnings

import numpy as np
import pytest
import torch
from fastai.basics import set_seed

from contextlm.data.corpus import corpus_from_df
from contextlm.data.synthetic import synthetic_reviews
from contextlm.data.tokens import BOS_ID, tokenize
from contextlm.errors import ContextLMError, CorpusError
from contextlm.lm.data import lm_dataloaders
from contextlm.lm.learner import context_language_model_learner, evaluate_perplexity, load_lm
from contextlm.lm.model import CONTEXT_DEFAULTS, context_language_model
from contextlm.lm.sampling import mix_guidance, sample_ids

torch.set_num_threads(1)

CFG = dict(emb_sz=8, n_hid=12, n_layers=2)
V = 30  # vocabulary size of the bare models


def _randomize(model, seed=0):
    """Random weights everywhere (the logit map starts at zero), so every path shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return model.eval()


def _run(model, x, ctx, null=None):
    model.reset()
    return model(x, ctx, null=null)


def _tokens(bs=3, sl=6, bos_at=None, seed=0):
    """Token ids without xxbos, or with xxbos at position `bos_at` of every row."""
    x = torch.randint(4, V, (bs, sl), generator=torch.Generator().manual_seed(seed))
    if bos_at is not None:
        x[:, bos_at] = BOS_ID
    return x


# -- each entry point: the output changes with the context, and only where it should ----------------
ENTRIES = {
    "input": dict(context_input=True),
    "init": dict(context_input=False, context_init=True),
    "bias": dict(context_input=False, context_bias=True),
    "proj": dict(context_input=True, context_proj=5),
}


@pytest.mark.parametrize("entry", ENTRIES)
def test_each_entry_point_changes_the_output_with_the_context_and_only_then(entry):
    set_seed(0)
    model = _randomize(context_language_model(V, 2, {**CFG, **ENTRIES[entry]}))
    x = _tokens(bos_at=0)
    a, b = torch.randn(3, 1, 2).expand(-1, 6, -1), torch.randn(3, 1, 2).expand(-1, 6, -1)
    assert not torch.allclose(_run(model, x, a)[0], _run(model, x, b)[0])
    assert torch.equal(_run(model, x, a)[0], _run(model, x, a.clone())[0])


def test_the_document_start_entry_acts_only_from_an_xxbos_on():
    """context_init adds the context at xxbos steps: without one the context does nothing;
    with one at position 3 the outputs before it do not change, those from it on do."""
    set_seed(0)
    model = _randomize(context_language_model(V, 2, {**CFG, **ENTRIES["init"]}))
    a, b = torch.zeros(3, 6, 2), torch.ones(3, 6, 2)
    x = _tokens()
    assert torch.equal(_run(model, x, a)[0], _run(model, x, b)[0])
    x = _tokens(bos_at=3)
    out_a, out_b = _run(model, x, a)[0], _run(model, x, b)[0]
    assert torch.equal(out_a[:, :3], out_b[:, :3])
    assert not torch.allclose(out_a[:, 3:], out_b[:, 3:])


def test_the_logit_entry_shifts_the_logits_not_the_lstm():
    set_seed(0)
    model = _randomize(context_language_model(V, 2, {**CFG, **ENTRIES["bias"]}))
    x = _tokens(bos_at=0)
    (la, raw_a, _), (lb, raw_b, _) = _run(model, x, torch.zeros(3, 6, 2)), _run(model, x, torch.ones(3, 6, 2))
    assert torch.equal(raw_a, raw_b) and not torch.allclose(la, lb)


def test_a_fresh_logit_map_is_zero_so_training_starts_from_the_plain_decoder():
    model = context_language_model(V, 2, {**CFG, **ENTRIES["bias"]}).eval()
    x = _tokens()
    assert torch.equal(_run(model, x, torch.zeros(3, 6, 2))[0], _run(model, x, torch.ones(3, 6, 2))[0])


def test_projection_sets_what_the_entry_points_see():
    model = context_language_model(V, 3, {**CFG, "context_proj": 5, "context_init": True})
    assert model[0].rnns[0].module.input_size == 8 + 5 + 5  # embedding ; c ; c at xxbos
    assert model[0].rnns[1].module.input_size == 12 + 5


def test_labels_are_embedded_beside_the_features():
    set_seed(0)
    model = _randomize(context_language_model(V, 1, {**CFG, "label_sizes": [3, 2], "label_emb_sz": 4}))
    assert model[0].rnns[0].module.input_size == 8 + 1 + 2 * 4 and model.n_context == 3
    x = _tokens(bos_at=0)
    rows = torch.tensor([[0.5, 1, 2], [0.5, 3, 2], [0.5, 1, 2]]).unsqueeze(1).expand(-1, 6, -1)
    out = _run(model, x[[0, 0, 0]], rows)[0]
    assert torch.equal(out[0], out[2]) and not torch.allclose(out[0], out[1])
    fresh = context_language_model(V, 1, {**CFG, "label_sizes": [3, 2], "label_emb_sz": 4})
    c = fresh[0].context(torch.tensor([[[0.5, 0, 0]]]))
    assert torch.equal(c[0, 0, 1:], torch.zeros(8)), "id 0 (unknown) must embed to zero"


def test_a_context_that_enters_nowhere_is_refused():
    with pytest.raises(ValueError, match="the context enters nowhere"):
        context_language_model(V, 2, {**CFG, "context_input": False})
    # an unconditioned model ignores the switches: it stays fastai's AWD-LSTM
    plain = context_language_model(V, 0, {**CFG, "context_bias": True, "context_proj": 4, "context_dropout": 0.5})
    assert not plain.conditioned and not any("context" in k for k in plain.state_dict())


# -- context dropout --------------------------------------------------------------------------------
def test_context_dropout_replaces_whole_rows_at_rate_p_in_training_only():
    torch.manual_seed(0)
    model = context_language_model(V, 2, {**CFG, "context_dropout": 0.3})
    enc = model[0].context
    with torch.no_grad():
        enc.null.fill_(7.0)
    rows = torch.randn(4000, 5, 2)
    is_null = enc.train()(rows).eq(7.0).all(-1)  # (rows, positions)
    assert torch.equal(is_null.all(1), is_null.any(1)), "a row is dropped for its whole window"
    assert abs(is_null[:, 0].float().mean().item() - 0.3) < 0.03
    assert not enc.eval()(rows).eq(7.0).all(-1).any()


def test_context_dropout_is_not_scaled_by_drop_mult():
    model = context_language_model(V, 2, {**CFG, "context_dropout": 0.3}, drop_mult=0.1)
    assert model[0].context.dropout == 0.3


# -- a labelled corpus and learner ------------------------------------------------------------------
@pytest.fixture(scope="module")
def labelled():
    df = synthetic_reviews(160, seed=2)
    df["genre"] = np.where(df["energy"] > 0.5, "rock", "folk")
    df["split"] = ["valid" if i % 8 == 0 else "train" for i in range(len(df))]
    df.loc[0, "genre"], df.loc[8, "genre"], df.loc[1, "genre"] = "jazz", None, None  # valid: new label; missing
    corpus = corpus_from_df(df, feature_cols=["energy"], keep_cols=["genre"], split_col="split")
    dls = lm_dataloaders(corpus, bs=8, seq_len=12, min_freq=1, label_cols=["genre"])
    return corpus, dls


def _learner(dls, **config):
    set_seed(0)
    learn = context_language_model_learner(dls, config={**CFG, **config})
    _randomize(learn.model)
    return learn


def test_label_vocabulary_comes_from_the_train_split_and_new_labels_are_unknown(labelled):
    corpus, dls = labelled
    assert dls.label_names == {"genre": ["folk", "rock"]}
    table = dls.valid.doc_features
    assert table.shape[1] == 2
    assert table[0, 1] == 0 and table[1, 1] == 0, "jazz (never in train) and a missing value -> unknown id 0"
    valid = corpus.valid.reset_index(drop=True)
    assert table[2, 1] == 1 + ["folk", "rock"].index(valid.loc[2, "genre"])
    assert dls.train.doc_features[0, 1] == 0, "a missing label in train is unknown too"


def test_a_label_column_the_corpus_lacks_is_a_clear_error(labelled):
    corpus, _ = labelled
    with pytest.raises(CorpusError, match="no label column 'mood'"):
        lm_dataloaders(corpus, bs=8, seq_len=12, min_freq=1, label_cols=["mood"])


def test_labels_steer_generation_and_unknown_ones_list_the_known(labelled):
    lm = _learner(labelled[1]).trained_lm()
    rock = lm.generate(6, {"energy": 0.5}, {"genre": "rock"}, max_len=8, seed=0)
    assert rock == lm.generate(6, {"energy": 0.5}, labels={"genre": "rock"}, max_len=8, seed=0)
    assert rock != lm.generate(6, {"energy": 0.5}, {"genre": "folk"}, max_len=8, seed=0)
    with pytest.raises(ContextLMError, match=r"^genre: label 'jazz': unknown; known labels: folk, rock$"):
        lm.generate(1, labels={"genre": "jazz"})
    with pytest.raises(ContextLMError, match=r"unknown label column 'mood' \(this model knows: genre\)"):
        lm.generate(1, labels={"mood": "sad"})
    assert len(lm.generate(2, max_len=5, seed=0)) == 2  # unset label: unknown, like an unset feature's mean


def test_the_learner_trains_every_context_parameter(labelled):
    learn = context_language_model_learner(labelled[1], config={**CFG, "context_bias": True, "context_init": True,
                                                                "context_proj": 4, "context_dropout": 0.2})
    learn.create_opt()
    in_groups = [p for group in learn.opt.param_lists for p in group]
    assert len(in_groups) == len({id(p) for p in in_groups})
    assert {id(p) for p in learn.model.parameters()} == {id(p) for p in in_groups}
    context_params = dict(learn.model[0].context.named_parameters())
    context_params["logit map"] = learn.model[1].context_bias.weight
    before = {k: p.detach().clone() for k, p in context_params.items()}
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-2)
    assert [k for k, p in context_params.items() if torch.equal(before[k], p)] == []


# -- guidance ---------------------------------------------------------------------------------------
def test_guidance_one_is_the_plain_sampler(labelled):
    lm = _learner(labelled[1], context_dropout=0.3).trained_lm()
    kw = dict(max_len=10, seed=5, top_p=0.9)
    plain = lm.generate_tokens(12, {"energy": 0.8}, {"genre": "rock"}, **kw)
    assert lm.generate_tokens(12, {"energy": 0.8}, {"genre": "rock"}, guidance=1.0, **kw) == plain
    assert lm.generate_tokens(12, {"energy": 0.8}, {"genre": "rock"}, guidance=3.0, **kw) != plain


def test_guidance_zero_samples_the_null_context_whatever_the_context():
    """W = 0 keeps only the null rows' log-probabilities: greedy samples cannot depend on the context."""
    set_seed(0)
    model = _randomize(context_language_model(V, 2, {**CFG, "context_dropout": 0.2}))
    a, b = torch.zeros(4, 2), torch.randn(4, 2) * 3
    greedy = dict(max_len=8, top_k=1, stop_ids=[], banned_ids=[1])
    assert sample_ids(model, [BOS_ID], a, guidance=0.0, **greedy) == sample_ids(model, [BOS_ID], b, guidance=0.0,
                                                                                   **greedy)
    assert sample_ids(model, [BOS_ID], a, **greedy) != sample_ids(model, [BOS_ID], b, **greedy)


def test_guided_rows_keep_their_own_state_when_finished_rows_leave():
    set_seed(1)
    model = _randomize(context_language_model(V, 1, {**CFG, "context_dropout": 0.2}), seed=1)
    ctx = torch.linspace(-3, 3, 8).unsqueeze(1)
    first = sample_ids(model, [BOS_ID], ctx, max_len=10, top_k=1, banned_ids=[1], stop_ids=[], guidance=2.0)
    stop = first[0][1]  # make an early greedy token of the first row a stop token
    kw = dict(max_len=10, top_k=1, banned_ids=[1], stop_ids=[stop], guidance=2.0)
    full = sample_ids(model, [BOS_ID], ctx, compact_below=0.0, **kw)
    assert full == sample_ids(model, [BOS_ID], ctx, compact_below=1.0, **kw)
    assert len({len(s) for s in full}) > 1


def test_null_rows_in_a_mixed_batch_give_what_a_null_only_batch_gives():
    set_seed(0)
    model = _randomize(context_language_model(V, 2, {**CFG, "context_dropout": 0.2, "context_init": True}))
    x, ctx = _tokens(bs=2, bos_at=0), torch.randn(2, 6, 2)
    mixed = _run(model, x[[0, 1, 0, 1]], ctx[[0, 1, 0, 1]], null=torch.tensor([False, False, True, True]))[0]
    alone = _run(model, x, ctx, null=torch.tensor([True, True]))[0]
    assert torch.allclose(mixed[2:], alone, atol=1e-6) and not torch.allclose(mixed[:2], alone)


def test_mix_guidance_is_null_plus_w_times_the_difference():
    logits = torch.randn(4, 7)
    cond, null = logits.log_softmax(-1).chunk(2)
    assert torch.allclose(mix_guidance(logits, 2.5, min_p=0.0), null + 2.5 * (cond - null))


def test_guidance_needs_a_context_and_warns_without_a_trained_null(labelled):
    twin = context_language_model_learner(labelled[1], use_features=False, config=CFG).trained_lm()
    with pytest.raises(ContextLMError, match="needs a conditioned model"):
        twin.generate(1, guidance=2.0)
    lm = _learner(labelled[1]).trained_lm()
    with pytest.warns(UserWarning, match="trained without context dropout"):
        lm.generate(1, max_len=3, guidance=2.0)
    with pytest.raises(ContextLMError, match="finite"):
        lm.generate(1, guidance=float("nan"))


# -- scoring ----------------------------------------------------------------------------------------
def test_log_prob_scores_each_text_alone_and_its_end(labelled):
    lm = _learner(labelled[1], context_bias=True).trained_lm()
    texts = ["The drums pound.", "A quiet song", "x"]
    total, count = lm.log_prob(texts, {"energy": 0.2}, {"genre": "folk"})
    one_by_one = [lm.log_prob([t], {"energy": 0.2}, {"genre": "folk"}) for t in texts]
    assert count == sum(c for _, c in one_by_one) and total == pytest.approx(sum(t for t, _ in one_by_one), rel=1e-5)
    assert count == sum(len(lm.vocab.numericalize(t)) for t in tokenize(texts))
    assert lm.log_prob(texts, {"energy": 0.9}, {"genre": "folk"})[0] != pytest.approx(total)
    twin = context_language_model_learner(labelled[1], use_features=False, config=CFG).trained_lm()
    assert twin.log_prob(texts, {"energy": 0.2})[0] == twin.log_prob(texts, {"energy": 0.9})[0]


def test_evaluate_perplexity_reads_labels_per_document(labelled):
    corpus, dls = labelled
    lm = _learner(dls).trained_lm()
    valid = corpus.valid
    res = evaluate_perplexity(lm, valid["text"], corpus.features("valid"), 4, 12, labels=valid)
    assert np.isfinite(res["perplexity"])
    as_dict = {"genre": valid["genre"].tolist()}
    assert evaluate_perplexity(lm, valid["text"], corpus.features("valid"), 4, 12, labels=as_dict) == res
    with pytest.raises(ContextLMError, match=r"conditioned on labels \(genre\)"):
        evaluate_perplexity(lm, valid["text"], corpus.features("valid"), 4, 12)


# -- model folders ----------------------------------------------------------------------------------
COMBOS = {
    "default": {},
    "init": dict(context_init=True),
    "bias": dict(context_bias=True),
    "proj": dict(context_proj=4),
    "bias-only": dict(context_input=False, context_bias=True),
    "dropout": dict(context_dropout=0.2),
    "all": dict(context_init=True, context_bias=True, context_proj=4, context_dropout=0.2, label_emb_sz=3),
}


@pytest.mark.parametrize("labels", [True, False], ids=["labels", "features"])
@pytest.mark.parametrize("combo", COMBOS)
def test_save_load_gives_identical_logits_for_every_switch(tmp_path, labelled, combo, labels):
    corpus, dls = labelled
    if not labels:
        dls = lm_dataloaders(corpus, bs=8, seq_len=12, min_freq=1)
    learn = _learner(dls, **COMBOS[combo])
    x, c, _ = dls.one_batch()
    lm = learn.trained_lm()
    before = _run(lm.model.eval(), x, c)[0]
    again = load_lm(lm.save(tmp_path / "m"))
    assert again.label_names == lm.label_names and again.arch_config["context_dropout"] == lm.model[0].context.dropout
    assert torch.equal(before, _run(again.model, x, c)[0])
    with pytest.raises(ContextLMError, match="exists; pass --overwrite"):
        lm.save(tmp_path / "m")
    lm.save(tmp_path / "m", overwrite=True)


def test_folder_config_lets_a_trainer_write_its_own_folder(tmp_path, labelled):
    from contextlm.lm.learner import MODEL_KIND
    from contextlm.modelio import model_folder_writer, write_model_files
    lm = _learner(labelled[1], context_bias=True).trained_lm()
    with model_folder_writer(tmp_path / "run") as tmp:
        write_model_files(tmp, MODEL_KIND, lm.model, lm.folder_config({"metrics": {"valid": 1.0}}))
        (tmp / "history.csv").write_text("epoch\n0\n")
    again = load_lm(tmp_path / "run")
    assert again.extra["metrics"] == {"valid": 1.0} and again.label_names == {"genre": ["folk", "rock"]}


def test_a_folder_written_before_the_context_switches_still_loads(tmp_path, labelled):
    """Folders from before this change have only fastai's keys in "arch" and no label_names."""
    corpus, _ = labelled
    dls = lm_dataloaders(corpus, bs=8, seq_len=12, min_freq=1)
    lm = _learner(dls).trained_lm()
    folder = lm.save(tmp_path / "old")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["arch"] = {k: v for k, v in cfg["arch"].items() if k not in CONTEXT_DEFAULTS}
    del cfg["label_names"]
    assert set(cfg["arch"]) == {"emb_sz", "n_hid", "n_layers", "pad_token", "bidir", "output_p", "hidden_p",
                                "input_p", "embed_p", "weight_p", "tie_weights", "out_bias", "drop_mult"}
    (folder / "config.json").write_text(json.dumps(cfg))
    old = load_lm(folder)
    x, c, _ = dls.one_batch()
    assert torch.equal(_run(lm.model, x, c)[0], _run(old.model, x, c)[0])
    assert old.arch_config["context_input"] is True and old.label_names == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(old.generate(2, {"energy": 0.4}, max_len=4, seed=0)) == 2


def test_label_names_that_do_not_match_the_weights_are_a_folder_error(tmp_path, labelled):
    from contextlm.errors import ModelFolderError
    folder = _learner(labelled[1]).trained_lm().save(tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["label_names"] = {"genre": ["folk", "rock", "pop"]}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match="label_names .* do not match"):
        load_lm(folder)



def test_guidance_mixes_only_over_plausible_tokens():
    from contextlm.lm.sampling import mix_guidance
    cond = torch.log(torch.tensor([[0.70, 0.25, 0.049, 0.001]]))
    null = torch.log(torch.tensor([[0.60, 0.30, 0.0999, 0.0001]]))
    both = torch.cat([cond, null])
    plain = mix_guidance(both, 3.0, min_p=0.0)
    assert torch.allclose(plain, null + 3.0 * (cond - null))
    kept = mix_guidance(both, 3.0, min_p=0.1)  # floor: 0.1 x 0.70 = 0.07 -> the first two tokens
    assert torch.isinf(kept).tolist() == [[False, False, True, True]]
    assert torch.allclose(kept[:, :2], plain[:, :2])
    # without the constraint the rare token 3 (cond 10x the null) would be boosted 1000x
    assert plain[0, 3] - plain[0, 2] > 0
    with pytest.raises(ContextLMError, match="min_p=1"):
        mix_guidance(both, 2.0, min_p=1.0)


def test_min_p_keeps_tokens_at_least_that_likely_as_the_top_one():
    from contextlm.logits import filter_logits
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isinf(filter_logits(logits, min_p=0.2)).tolist() == [[False, False, False, True]]  # floor 0.10
    assert torch.isinf(filter_logits(logits, min_p=0.5)).tolist() == [[False, False, True, True]]   # floor 0.25
    assert not torch.isinf(filter_logits(logits, min_p=0.0)).any()
    with pytest.raises(ContextLMError, match="min_p=1"):
        filter_logits(logits, min_p=1.0)
