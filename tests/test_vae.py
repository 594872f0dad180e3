"""Sentence VAE: math, data, generation, the learner's text methods and model folders."""
import math

import pandas as pd
import pytest
import torch
from torch.distributions import Normal, kl_divergence as torch_kl

from contextlm.data.tokens import CHAR_SPECIALS, Vocab
from contextlm.vae.data import pad_batch, read_ptb, sentence_dataloaders
from contextlm.errors import ContextLMError, CorpusError, DatasetError, ModelFolderError
from contextlm.vae.config import VAEConfig, VAEConfigError
from contextlm.vae.model import SentenceVAE
from contextlm.vae.objectives import gaussian_log_density, iw_nll, kl_divergence, sequence_nll, vae_loss
from contextlm.vae.learner import load_vae_learner, slerp, vae_learner

torch.set_num_threads(1)  # tiny models: extra threads only contend on a shared CPU

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book"]


def frame(sents=SENTS, n_valid=2, **cols):
    return pd.DataFrame({"text": sents, "split": ["train"] * (len(sents) - n_valid) + ["valid"] * n_valid, **cols})


def tiny_model(**kw):
    torch.manual_seed(0)
    return SentenceVAE(VAEConfig(**{**dict(vocab_sz=20, emb_sz=8, enc_hidden=8, dec_hidden=8, latent_sz=3), **kw}))


def batch():
    return pad_batch([[2, 5, 6, 7, 3], [2, 8, 3], [2, 9, 10, 11, 12, 3]], pad_id=1)


# -- math ----------------------------------------------------------------------------------
def test_kl_closed_form_matches_torch_and_monte_carlo():
    torch.manual_seed(0)
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[0.0, -1.0, 0.7]])
    ours = kl_divergence(mu, logvar)
    ref = torch_kl(Normal(mu, (0.5 * logvar).exp()), Normal(torch.zeros(3), torch.ones(3)))
    assert torch.allclose(ours, ref, atol=1e-6)
    # E_q[log q(z) - log p(z)] with reparameterised samples converges to the closed form
    z = SentenceVAE.reparameterize(mu.expand(200_000, 3), logvar.expand(200_000, 3))
    mc = (gaussian_log_density(z, mu, logvar) - gaussian_log_density(z, torch.zeros(3), torch.zeros(3))).mean()
    assert float(mc) == pytest.approx(float(ours.sum()), abs=0.03)
    # hand value for one dimension: KL(N(0.5, 1) || N(0, 1)) = 0.125
    assert float(ours[0, 0]) == pytest.approx(0.125)


def test_reparameterisation_is_differentiable():
    mu, logvar = torch.zeros(4, 2, requires_grad=True), torch.zeros(4, 2, requires_grad=True)
    SentenceVAE.reparameterize(mu, logvar).sum().backward()
    assert mu.grad is not None and torch.all(mu.grad == 1) and logvar.grad.abs().sum() > 0


def test_word_dropout_rate_and_specials():
    model = tiny_model(vocab_sz=50, word_dropout=0.3).train()
    torch.manual_seed(1)
    tokens = torch.randint(4, 50, (400, 60))
    tokens[:, 0], tokens[:, -1], tokens[:300, -10:] = 2, 3, 1      # bos, eos, padding
    out = model.word_dropout(tokens)
    words = tokens >= 4
    dropped = (out == model.config.unk_id) & words
    assert float(dropped.sum() / words.sum()) == pytest.approx(0.3, abs=0.01)
    assert torch.equal(out[~words], tokens[~words])                # <bos>/<eos>/<pad> untouched
    assert torch.equal(out[words & ~dropped], tokens[words & ~dropped])
    assert torch.equal(model.eval().word_dropout(tokens), tokens)  # only while training


def test_free_bits_floor_per_dimension():
    logits = torch.randn(2, 3, 20)
    targets = torch.tensor([[5, 6, 3], [7, 3, 1]])
    mu = torch.tensor([[0.1, 2.0], [0.1, 2.0]], requires_grad=True)
    logvar = torch.zeros(2, 2, requires_grad=True)
    recon = sequence_nll(logits, targets, pad_id=1).mean()
    pred = (logits, mu, logvar, kl_divergence(mu, logvar), logits.new_zeros(2, 0))
    loss, terms = vae_loss(pred, targets, pad_id=1, free_bits=0.5)
    # dim 0: KL 0.005 < 0.5 -> costs 0.5; dim 1: KL 2.0 > 0.5 -> costs 2.0
    assert float(loss) == pytest.approx(float(recon) + 0.5 + 2.0, rel=1e-5)
    assert terms["kl"] == pytest.approx(2 * (0.005 + 2.0), rel=1e-5) and terms["n_sent"] == 2  # unweighted sums
    loss.backward()
    assert torch.all(mu.grad[:, 0] == 0) and torch.all(mu.grad[:, 1] != 0)
    plain = vae_loss(pred, targets, pad_id=1)[0]
    assert float(plain) == pytest.approx(float(recon) + 0.005 + 2.0, rel=1e-5)
    with pytest.raises(VAEConfigError, match="free_bits"):
        vae_loss(pred, targets, pad_id=1, free_bits=-1)


def test_iw_nll_at_most_negative_elbo():
    model = tiny_model().eval()
    tokens, lengths = batch()
    torch.manual_seed(0)
    mu, logvar = model.encode(tokens, lengths)
    kl = kl_divergence(mu, logvar).sum(-1)
    with torch.no_grad():   # -ELBO = E_q[-log p(x|z)] + KL, expectation over 500 samples
        recon = torch.stack([sequence_nll(model.decode(model.reparameterize(mu, logvar), tokens[:, :-1]),
                                          tokens[:, 1:], 1) for _ in range(500)]).mean(0)
    neg_elbo = recon + kl
    iw = iw_nll(model, tokens, lengths, k=500, chunk=100)
    assert torch.all(iw <= neg_elbo + 1e-4)
    assert torch.all(iw > 0)
    # with one sample the IW estimate is a single-sample -ELBO: no better on average
    iw1 = torch.stack([iw_nll(model, tokens, lengths, k=1) for _ in range(300)]).mean(0)
    assert torch.allclose(iw1, neg_elbo, atol=0.15)


# -- generation -------------------------------------------------------------------------
def test_beam_of_one_is_greedy_and_wider_beams_score_higher():
    model = tiny_model(vocab_sz=30).eval()
    z = model.sample_prior(6)
    greedy = model.generate(z, method="greedy", max_len=8)
    assert model.generate(z, method="beam", beam_size=1, max_len=8) == greedy
    beam = model.generate(z, method="beam", beam_size=6, max_len=8, length_penalty=0.0)

    def logp(rows):  # log p of the full hypotheses, <eos> included unless cut at max_len
        seqs = [[2, *r] + ([3] if len(r) < 8 else []) for r in rows]
        tokens, _ = pad_batch(seqs, 1)
        return -sequence_nll(model.decode(z, tokens[:, :-1]), tokens[:, 1:], 1)

    with torch.no_grad():
        assert torch.all(logp(beam) >= logp(greedy) - 1e-4)


def test_generation_never_emits_bos_or_pad_and_stops_at_eos():
    model = tiny_model(vocab_sz=12).eval()
    torch.manual_seed(0)
    for method in ("greedy", "sample", "beam"):
        for row in model.generate(model.sample_prior(20), method=method, max_len=7):
            assert len(row) <= 7 and not {1, 2, 3} & set(row)


def test_teacher_forcing_zero_feeds_own_greedy_predictions():
    model = tiny_model(vocab_sz=15).eval()
    z = model.sample_prior(4)
    tokens_in = torch.full((4, 6), 2)
    model.teacher_forcing = 0.0
    memory = model.decoder_memory(*model.context(z, None, 4))
    logits = model._decode_scheduled(tokens_in, memory)
    greedy = model.generate(z, method="greedy", max_len=6)
    for row, ids in zip(logits.argmax(-1).tolist(), greedy):
        assert row[:len(ids)] == ids
    model.teacher_forcing = 1.0   # all gold inputs: same logits as the parallel decoder
    gold = torch.randint(4, 15, (4, 6))
    assert torch.allclose(model._decode_scheduled(gold, memory), model.decode(z, gold), atol=1e-5)



@pytest.mark.parametrize("kw", [dict(cell="lstm"), dict(cell="gru"), dict(latent_map=True, seq_len=8),
                                dict(use_latent=False)])
def test_packed_decoder_same_logits_and_gradients_where_scored(kw):
    model = tiny_model(**kw).eval()
    tokens, _ = pad_batch([[2, 5, 6, 7, 3], [2, 8, 3], [2, 3], [2, 9, 10, 11, 12, 13, 3]], pad_id=1)
    tokens_in, targets = tokens[:, :-1], tokens[:, 1:]
    assert model.decoder_lengths(tokens_in).tolist() == [4, 2, 1, 6]    # up to the last word, eos cut
    z = model.sample_prior(4).requires_grad_() if model.config.use_latent else None
    runs = []
    for share in (1.0, 0.0):                                           # never packed, always packed
        model.pack_padding = share
        logits = model.decode(z, tokens_in)
        assert logits.shape == (4, 6, 20)
        loss = sequence_nll(logits, targets, pad_id=1).sum()
        runs.append((logits, loss, torch.autograd.grad(loss, [*model.parameters()], allow_unused=True)))
    (plain, loss_plain, g_plain), (packed, loss_packed, g_packed) = runs
    scored = targets != 1
    assert torch.allclose(plain[scored], packed[scored], atol=1e-6)
    assert torch.all(packed[~scored] == 0)                             # padding: nothing computed
    assert float(loss_plain) == pytest.approx(float(loss_packed), rel=1e-6)
    for a, b in zip(g_plain, g_packed):
        assert (a is None) == (b is None) and (a is None or torch.allclose(a, b, atol=1e-6))


def test_onednn_switch_is_scoped_and_restores_torch_setting():
    from contextlm.vae.model import onednn
    before = torch._C._get_mkldnn_enabled()
    for outer in (True, False):
        torch._C._set_mkldnn_enabled(outer)
        with onednn(not outer):
            assert torch._C._get_mkldnn_enabled() is (not outer)
        assert torch._C._get_mkldnn_enabled() is outer
        with pytest.raises(RuntimeError), onednn(not outer):
            raise RuntimeError("inside")
        assert torch._C._get_mkldnn_enabled() is outer                 # restored after an error too
        with onednn(None):
            assert torch._C._get_mkldnn_enabled() is outer             # None: torch's setting untouched
    torch._C._set_mkldnn_enabled(before)
    model = tiny_model(cell="lstm", vocab_sz=12).eval()
    z = model.sample_prior(5)
    model.onednn_generation = None
    ref = model.generate(z, max_len=8)
    for flag in (True, False):
        model.onednn_generation = flag
        assert model.generate(z, max_len=8) == ref                      # same function either way
        assert torch._C._get_mkldnn_enabled() is before
def test_conditions_feature_and_label():
    tokens, lengths = batch()
    feat = tiny_model(cond_sz=2)
    logits, mu = feat(tokens, lengths, torch.rand(3, 2))[:2]
    assert logits.shape == (3, tokens.shape[1] - 1, 20) and mu.shape == (3, 3)
    lab = tiny_model(n_labels=4, label_emb_sz=5).eval()
    # the encoder and the decoder conditions are separate: a CVAE converts label 0 -> 3
    mu0, _ = lab.encode(tokens, lengths, torch.tensor([0, 0, 0]))
    mu3, _ = lab.encode(tokens, lengths, torch.tensor([3, 3, 3]))
    assert not torch.allclose(mu0, mu3)
    out = lab.generate(mu0, torch.tensor([3, 3, 3]), method="beam", beam_size=3, max_len=5)
    assert len(out) == 3
    with pytest.raises(VAEConfigError, match="pass cond"):
        lab.encode(tokens, lengths)
    with pytest.raises(VAEConfigError, match="label ids"):
        lab.encode(tokens, lengths, torch.tensor([0, 1, 4]))
    with pytest.raises(VAEConfigError, match="no condition"):
        tiny_model().encode(tokens, lengths, torch.rand(3, 2))


def test_lm_baseline_has_no_latent():
    model = tiny_model(use_latent=False)
    tokens, lengths = batch()
    logits, mu, logvar, kl, aux = model(tokens, lengths)
    assert mu.shape == (3, 0) and float(kl_divergence(mu, logvar).sum()) == 0
    assert not any(n.startswith(("encoder", "to_mu")) for n, _ in model.named_parameters())
    assert len(model.eval().generate(None, n=4, method="sample")) == 4


@pytest.mark.parametrize("kwargs, word", [(dict(latent_sz=0), "latent_sz"), (dict(word_dropout=1.5), "word_dropout"),
                                          (dict(cond_sz=2, n_labels=3), "not both"), (dict(pad_id=0), "distinct")])
def test_bad_config(kwargs, word):
    with pytest.raises(VAEConfigError, match=word):
        tiny_model(**kwargs)


def test_bad_generation_arguments():
    model = tiny_model().eval()
    z = model.sample_prior(2)
    with pytest.raises(VAEConfigError, match="method='top'"):
        model.generate(z, method="top")
    with pytest.raises(VAEConfigError, match="temperature"):
        model.generate(z, method="sample", temperature=0)
    with pytest.raises(VAEConfigError, match="beam_size"):
        model.generate(z, method="beam", beam_size=0)


# -- data -------------------------------------------------------------------------------
def test_word_and_char_vocab_specials_and_round_trip():
    words = Vocab.build(["Hello world", "hello there"], tokenizer="fastai")
    assert words.itos[:4] == ["xxunk", "xxpad", "xxbos", "xxeos"]
    ids = words.encode(["Hello world"])[0]
    assert ids[0] == words.bos_id and ids[-1] == words.eos_id
    assert words.decode(ids) == "Hello world"
    chars = Vocab.build(["abc", "cab!"], tokenizer="char")
    assert chars.itos == CHAR_SPECIALS + ["!", "a", "b", "c"]
    assert chars.special_ids() == dict(pad_id=0, bos_id=1, eos_id=2, unk_id=3)
    assert chars.decode(chars.encode(["cab?"])[0]) == "cab<unk>"
    assert Vocab.from_dict(chars.to_dict()).itos == chars.itos


def test_whitespace_tokens_keep_ptb_unk(tmp_path):
    for split, text in (("train", " the <unk> rose N points \n a b\n"), ("valid", " the c\n"), ("test", " d\n")):
        (tmp_path / f"ptb.{split}.txt").write_text(text)
    df = read_ptb(tmp_path)
    assert df["split"].tolist() == ["train", "train", "valid", "test"]
    dls = sentence_dataloaders(df, tokenizer="whitespace", bs=2)
    ids = dls.vocab.encode(["the <unk> rose zebra"])[0]
    assert ids[2] == dls.vocab.unk_id and ids[4] == dls.vocab.unk_id
    assert dls.vocab.decode(ids) == "the <unk> rose <unk>"
    assert "<unk>" not in dls.vocab.stoi and dls.test is not None
    with pytest.raises(DatasetError, match="ptb.train.txt"):
        read_ptb(tmp_path / "nowhere")


def test_length_bucketed_batches_cover_each_sentence_once():
    sents = [" ".join(["w"] * n) for n in range(1, 41)] * 5   # 200 sentences of 1..40 words
    df = pd.DataFrame({"text": sents, "split": ["train"] * 180 + ["valid"] * 20})
    dls = sentence_dataloaders(df, tokenizer="whitespace", bs=10, bucket=4, max_len=30, seed=0)
    seen, padding = [], 0
    for tokens, lengths, targets in dls.train:
        assert torch.equal(targets, tokens[:, 1:])
        assert torch.all(tokens[torch.arange(len(lengths)), lengths - 1] == dls.vocab.eos_id)
        seen += lengths.tolist()
        padding += int((tokens == dls.vocab.pad_id).sum())
    assert len(seen) == 180 and max(seen) == 32                  # max_len words + <bos> + <eos>
    assert sorted(seen) == sorted(min(len(s.split()), 30) + 2 for s in sents[:180])
    assert padding < 0.25 * sum(seen)    # buckets keep padding small (random batches of 10 pad ~60%)
    first = [b[1].tolist() for b in dls.train]
    assert first != [b[1].tolist() for b in dls.train]           # reshuffled every epoch
    dls.train.epoch_size, dls.train.n = 50, 50
    assert sum(len(b[1]) for b in dls.train) == 50 and len(dls.train) == 5


def test_feature_and_label_conditions_in_batches():
    df = frame(energy=[0.0, 1.0, 0.5, 0.5, 2.0, 0.25], tense=["sp", "p", "p", "sp", "sp", "p"])
    dls = sentence_dataloaders(df, tokenizer="whitespace", bs=4, feature_cols=["energy"])
    tokens, lengths, cond, targets = dls.one_batch()
    assert cond.dtype == torch.float32 and cond.shape == (4, 1)
    assert float(cond.min()) >= 0 and float(cond.max()) <= 1          # min-max from train
    assert dls.condition.encode({"energy": 1.0}, 2).tolist() == [[1.0], [1.0]]
    with pytest.raises(ContextLMError, match="unknown feature 'valence'"):
        dls.condition.encode({"valence": 1.0}, 1)
    mean = dls.condition.stats["energy"]["mean"]                       # unset features: the training mean
    assert dls.condition.encode({}, 1).tolist() == dls.condition.encode({"energy": mean}, 1).tolist()
    dls = sentence_dataloaders(df, tokenizer="char", bs=4, label_col="tense")
    assert dls.one_batch()[2].dtype == torch.long and dls.condition.names == ["p", "sp"]
    assert dls.condition.encode("sp", 3).tolist() == [1, 1, 1]
    with pytest.raises(ContextLMError, match="unknown; known labels: p, sp"):
        dls.condition.encode("future", 1)
    with pytest.raises(CorpusError, match="no column 'mood'"):
        sentence_dataloaders(df, label_col="mood")
    with pytest.raises(ContextLMError, match="tokenizer='bpe'"):
        sentence_dataloaders(df, tokenizer="bpe")


# -- learner ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def overfit():
    """A tiny VAE trained on six sentences until it reproduces them."""
    dls = sentence_dataloaders(frame(SENTS + SENTS[:2]), tokenizer="whitespace", bs=6, seed=0)
    torch.manual_seed(0)
    learn = vae_learner(dls, dict(emb_sz=32, enc_hidden=32, dec_hidden=48, latent_sz=8))
    learn.kl_weight = 0.05
    with learn.no_bar(), learn.no_logging():
        learn.fit(70, 1e-2)
    return learn


def test_tiny_model_overfits_to_exact_reconstruction(overfit):
    assert overfit.reconstruct(SENTS, method="greedy") == SENTS
    assert overfit.reconstruct(SENTS, method="beam", beam_size=3) == SENTS


def test_interpolation_endpoints_decode_encoded_means(overfit):
    for path in ("lerp", "slerp"):
        table = overfit.interpolate(SENTS[3], SENTS[4], steps=6, path=path)
        assert list(table.columns) == ["t", "text"] and len(table) == 6
        assert table["t"].iloc[0] == 0 and table["t"].iloc[-1] == 1
        assert table["text"].iloc[0] == SENTS[3] and table["text"].iloc[-1] == SENTS[4]
    z0, z1 = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 2.0])
    ends = slerp(z0, z1, torch.tensor([0.0, 0.5, 1.0]))
    assert torch.allclose(ends[0], z0) and torch.allclose(ends[-1], z1, atol=1e-6)
    assert torch.allclose(ends[1], torch.tensor([math.sqrt(2), math.sqrt(2)]))  # on the arc (norm 2), not the chord


def test_neighbours_and_samples(overfit):
    near = overfit.neighbours(SENTS[0], k=3)
    assert near["text"].iloc[0] == SENTS[0] and near["cosine"].iloc[0] == pytest.approx(1.0)
    assert near["cosine"].is_monotonic_decreasing and len(near) == 3
    assert all(isinstance(s, str) for s in overfit.sample(4, temperature=0.8))


def test_save_load_same_encodings(overfit, tmp_path):
    overfit.save_model(tmp_path / "vae")
    loaded = load_vae_learner(tmp_path / "vae")
    assert torch.equal(loaded.encode(SENTS), overfit.encode(SENTS))
    assert loaded.reconstruct(SENTS) == SENTS
    assert loaded.vocab.itos == overfit.vocab.itos
    with pytest.raises(ContextLMError, match="pool"):
        loaded.neighbours(SENTS[0])
    # fastai's own checkpoints keep working
    overfit.path = tmp_path
    overfit.save("ckpt")
    fresh = vae_learner(overfit.dls, dict(emb_sz=32, enc_hidden=32, dec_hidden=48, latent_sz=8), path=tmp_path)
    fresh.load("ckpt")
    assert torch.equal(fresh.encode(SENTS), overfit.encode(SENTS))
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_vae_learner(tmp_path / "missing")


def test_learner_bad_arguments(overfit):
    with pytest.raises(ContextLMError, match="path='cubic'"):
        overfit.interpolate("a", "b", path="cubic")
    with pytest.raises(ContextLMError, match="steps=1"):
        overfit.interpolate("a", "b", steps=1)
    with pytest.raises(ContextLMError, match="list of texts"):
        overfit.encode("the cat")
    with pytest.raises(ContextLMError, match="not conditioned"):
        overfit.sample(2, features={"energy": 0.5})
    with pytest.raises(ContextLMError, match="n=0"):
        overfit.sample(0)
    with pytest.raises(ContextLMError, match="k=0"):
        overfit.neighbours("the cat", k=0)


def test_char_label_cvae_learner_round_trip(tmp_path):
    """What the tense CVAE builds on: characters, a label condition, separate encoder and
    decoder labels, and a model folder that keeps the label names."""
    df = frame(["abandon", "abandoned", "abandons", "abandoning", "go", "went"],
               tense=["sp", "past", "tp", "prog", "sp", "past"])
    dls = sentence_dataloaders(df, tokenizer="char", label_col="tense", bs=4, max_len=12)
    torch.manual_seed(0)
    learn = vae_learner(dls, dict(emb_sz=8, enc_hidden=8, dec_hidden=8, latent_sz=4, label_emb_sz=3))
    assert learn.model.config.n_labels == 4 and learn.condition.names == ["past", "prog", "sp", "tp"]
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    out = learn.reconstruct(["abandon", "go"], cond="sp", dec_cond=["past", "tp"], method="beam", beam_size=2)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
    learn.save_model(tmp_path / "cvae")
    loaded = load_vae_learner(tmp_path / "cvae")
    assert loaded.condition.names == learn.condition.names and loaded.vocab.level == "char"
    assert torch.equal(loaded.encode(["went"], cond="past"), learn.encode(["went"], cond="past"))
    with pytest.raises(ContextLMError, match="label 'future'"):
        loaded.reconstruct(["go"], cond="future")
