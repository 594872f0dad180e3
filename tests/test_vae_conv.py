"""CNN and Hybrid VAE (contextlm/vae/conv.py): shapes, KL, the auxiliary loss, training to
reconstruction, model folders, generation and the learner's text methods, bad arguments."""
import pandas as pd
import pytest
import torch

from contextlm.vae.config import VAEConfig, VAEConfigError
from contextlm.vae.conv import ConvVAE, HybridVAE
from contextlm.vae.data import pad_batch, sentence_dataloaders
from contextlm.vae.learner import load_vae_learner, vae_learner
from contextlm.vae.model import build_vae
from contextlm.vae.objectives import iw_nll, kl_divergence, sequence_nll, vae_loss

torch.set_num_threads(1)  # tiny models: extra threads only contend on a shared CPU

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book"]
VARIANTS = [("cnn", False), ("cnn", True), ("hybrid", False), ("hybrid", True)]
LEARN_CONFIG = dict(emb_sz=16, conv_channels=32, conv_layers=2, dec_hidden=32, latent_sz=8)


def tiny(arch="cnn", **kw):
    torch.manual_seed(0)
    return build_vae(VAEConfig(**{**dict(vocab_sz=20, arch=arch, seq_len=10, conv_layers=2, conv_channels=6,
                                         emb_sz=8, dec_hidden=8, latent_sz=3), **kw}))


def batch(vocab_sz=20):
    rows = [[2, 5, 6, 7, 3], [2, 8, 3], [2, 9, 10, 11, 12, 3], [2, *range(4, min(vocab_sz, 12)), 3]]
    return pad_batch(rows, pad_id=1)


def frame(sents=SENTS, n_valid=2):
    return pd.DataFrame({"text": sents, "split": ["train"] * (len(sents) - n_valid) + ["valid"] * n_valid})


# -- shapes, KL, loss ---------------------------------------------------------------------------
@pytest.mark.parametrize("cond", [None, "features", "labels"])
@pytest.mark.parametrize("vocab_sz", [20, 70])  # a word-level and a character-level vocabulary size
@pytest.mark.parametrize("arch, latent_map", VARIANTS)
def test_shapes_and_generation(arch, latent_map, vocab_sz, cond):
    kw = dict(features=dict(cond_sz=2), labels=dict(n_labels=3, label_emb_sz=4)).get(cond, {})
    model = tiny(arch, latent_map=latent_map, vocab_sz=vocab_sz, **kw)
    assert isinstance(model, HybridVAE if arch == "hybrid" else ConvVAE)
    assert model.length == 12 and model.map_len == 3      # seq_len 10 -> 12 = 3 * 2**2
    tokens, lengths = batch(vocab_sz)
    B, T = tokens.shape[0], tokens.shape[1] - 1
    c = dict(features=torch.rand(B, 2), labels=torch.tensor([0, 2, 1, 0])).get(cond)
    logits, mu, logvar, kl, aux = model(tokens, lengths, c)
    z_dim = 3 * (3 if latent_map else 1)
    assert model.config.z_dim == z_dim and model.config.positions == (3 if latent_map else 1)
    assert logits.shape == (B, T, vocab_sz) and mu.shape == logvar.shape == kl.shape == (B, z_dim)
    assert aux.shape == ((B, T, vocab_sz) if arch == "hybrid" else (B, 0))
    model.eval()
    z = model.sample_prior(5)
    gc = None if c is None else c[:1].expand(5, *c.shape[1:])
    for method in ("greedy", "sample", "beam"):
        rows = model.generate(z, gc, method=method, max_len=7, beam_size=3)
        assert len(rows) == 5 and all(len(r) <= 7 and not {1, 2, 3} & set(r) for r in rows)
    assert len(model.generate(z, gc, max_len=40)[0]) <= 40  # beyond the fixed length L: no error


def test_kl_against_closed_form():
    tokens, lengths = batch()
    for arch, latent_map in VARIANTS:
        model = tiny(arch, latent_map=latent_map)
        post = model.infer(tokens, lengths, n_samples=2)
        mu, logvar = model.encode(tokens, lengths)
        assert torch.allclose(post.mu, mu) and torch.allclose(post.logvar, logvar)
        closed = kl_divergence(mu, logvar)            # per unit; a map's positions summed in the total
        assert torch.allclose(post.kl, closed.repeat(2, 1), atol=1e-6)
        assert post.kl.shape == (8, model.config.z_dim) and post.z.shape == (8, model.config.z_dim)


def test_alpha_adds_exactly_alpha_times_the_auxiliary_nll():
    model = tiny("hybrid")
    tokens, lengths = batch()
    targets = tokens[:, 1:]
    with torch.no_grad():
        pred = model(tokens, lengths)
    plain, terms0 = vae_loss(pred, targets, pad_id=1, alpha=0.0)
    loss, terms = vae_loss(pred, targets, pad_id=1, alpha=0.7)
    aux_nll = sequence_nll(pred[4], targets, 1)
    assert float(loss - plain) == pytest.approx(0.7 * float(aux_nll.mean()), rel=1e-5)
    assert terms["aux"] == pytest.approx(float(aux_nll.sum()), rel=1e-5) and terms0["recon"] == terms["recon"]
    cnn_pred = tiny("cnn")(tokens, lengths)
    assert "aux" not in vae_loss(cnn_pred, targets, pad_id=1, alpha=0.7)[1]


def test_teacher_forcing_and_word_dropout():
    tokens, lengths = batch()
    cnn = tiny("cnn", word_dropout=0.5).train()
    z = cnn.sample_prior(4)
    full = cnn.decode(z, tokens[:, :-1])
    cnn.teacher_forcing = 0.2  # the deconvolution reads no tokens: nothing changes
    assert torch.allclose(cnn.decode(z, tokens[:, :-1]), full)
    assert torch.allclose(cnn.decode(z, torch.zeros_like(tokens[:, :-1])), full)
    hybrid = tiny("hybrid").eval()
    memory = hybrid.decoder_memory(*hybrid.context(z, None, 4))
    hybrid.teacher_forcing = 1.0  # step by step on gold inputs = the teacher-forced pass, where scored
    scored = tokens[:, 1:] != 1
    assert torch.allclose(hybrid._decode_scheduled(tokens[:, :-1], memory)[scored],
                          hybrid.decode(z, tokens[:, :-1])[scored], atol=1e-5)
    hybrid.teacher_forcing = 0.0  # own greedy predictions: the greedy decode's tokens
    scheduled = hybrid._decode_scheduled(torch.full((4, 6), 2), memory).argmax(-1).tolist()
    for row, ids in zip(scheduled, hybrid.generate(z, method="greedy", max_len=6)):
        assert row[:len(ids)] == ids


@pytest.mark.parametrize("kwargs, word", [
    (dict(arch="nosuch"), "arch"),
    (dict(conv_layers=4), "one position or none"),
    (dict(conv_layers=3, seq_len=8), "one position or none"),   # batch norm could not train on 1 sentence
    (dict(use_latent=False), "arch=rnn"),
    (dict(seq_len=0), "seq_len"),
])
def test_bad_config(kwargs, word):
    with pytest.raises(VAEConfigError, match=word) as err:
        tiny(**kwargs)
    assert "\n" not in str(err.value)


def test_one_sentence_batches_train_at_the_smallest_map():
    model = tiny(conv_layers=3, seq_len=9).train()                    # 2 positions: batch norm has 2 values
    tokens, lengths = pad_batch([[2, 5, 6, 3]], pad_id=1)
    logits, *_ = model(tokens, lengths)
    assert logits.shape[:2] == (1, 3) and torch.isfinite(logits).all()


def test_sentence_longer_than_seq_len():
    model = tiny()
    tokens, lengths = pad_batch([[2, *range(4, 14), 3]], pad_id=1)     # 12 tokens > seq_len 10
    with pytest.raises(VAEConfigError, match="12 tokens .* seq_len=10"):
        model.encode(tokens, lengths)
    with pytest.raises(VAEConfigError, match="fixed 12"):
        model.decode(model.sample_prior(1), torch.full((1, 13), 2))


# -- learner --------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"{v[0]}{'-map' if v[1] else ''}")
def trained(request):
    """A tiny model of each variant trained on six sentences until it reproduces them."""
    arch, latent_map = request.param
    dls = sentence_dataloaders(frame(SENTS + SENTS[:2]), tokenizer="whitespace", bs=6, seed=0, max_len=8)
    torch.manual_seed(0)
    learn = vae_learner(dls, dict(arch=arch, latent_map=latent_map, **LEARN_CONFIG))
    learn.kl_weight = 0.05
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(120, 1e-2)
    return learn


def test_overfits_to_reconstruction(trained):
    exact = sum(a == b for a, b in zip(trained.reconstruct(SENTS), SENTS))
    assert exact >= 5, trained.reconstruct(SENTS)
    names = trained.recorder.metric_names
    assert ("aux" in names) == (trained.model.config.arch == "hybrid")
    if "aux" in names:
        assert trained.recorder.values[-1][names.index("aux") - 1] > 0  # values skip the 'epoch' column


def test_generation_and_text_methods(trained):
    z = trained.encode(SENTS)
    greedy = trained.decode(z)
    beam = trained.decode(z, method="beam", beam_size=3)
    if trained.model.config.arch == "cnn":
        assert beam == greedy                       # independent positions: beam search is greedy
    assert all(isinstance(s, str) for s in trained.decode(z, method="sample", temperature=0.5))
    assert len(trained.sample(3)) == 3 and len(trained.sample(2, method="greedy")) == 2
    table = trained.interpolate(SENTS[3], SENTS[4], steps=4, path="slerp")
    assert len(table) == 4 and table["text"].iloc[0] == greedy[3] and table["text"].iloc[-1] == greedy[4]
    near = trained.neighbours(SENTS[0], k=3)
    assert near["text"].iloc[0] == SENTS[0] and near["cosine"].iloc[0] == pytest.approx(1.0)


def test_save_load_same_encodings_and_decodes(trained, tmp_path):
    trained.save_model(tmp_path / "vae")
    loaded = load_vae_learner(tmp_path / "vae")
    assert type(loaded.model) is type(trained.model)
    assert torch.equal(loaded.encode(SENTS), trained.encode(SENTS))
    assert loaded.reconstruct(SENTS) == trained.reconstruct(SENTS)


def test_iw_nll_below_negative_elbo(trained):
    model = trained.model.eval()
    tokens, lengths = pad_batch(trained.vocab.encode(SENTS, trained.max_len), trained.vocab.pad_id)
    torch.manual_seed(0)
    with torch.no_grad():
        mu, logvar = model.encode(tokens, lengths)
        recon = torch.stack([sequence_nll(model.decode(model.reparameterize(mu, logvar), tokens[:, :-1]),
                                          tokens[:, 1:], 1) for _ in range(100)]).mean(0)
    neg_elbo = recon + kl_divergence(mu, logvar).sum(-1)
    iw = iw_nll(model, tokens, lengths, k=100, chunk=50)
    assert torch.isfinite(iw).all() and float(iw.mean()) <= float(neg_elbo.mean()) + 1e-3


def test_char_level_learner(tmp_path):
    df = frame(["abandon", "abandoned", "went", "go", "gone", "going"])
    dls = sentence_dataloaders(df, tokenizer="char", bs=4, max_len=12)
    for arch in ("cnn", "hybrid"):
        torch.manual_seed(0)
        learn = vae_learner(dls, dict(arch=arch, latent_map=True, **LEARN_CONFIG))
        assert learn.model.config.seq_len == 14 and learn.model.length == 16
        with learn.no_bar(), learn.no_logging():
            learn.fit(1, 1e-3)
        out = learn.reconstruct(["abandon", "go"], method="beam", beam_size=2)
        assert len(out) == 2 and all(isinstance(t, str) for t in out)
