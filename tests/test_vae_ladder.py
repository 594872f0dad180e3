"""Ladder VAE: the merge and the KLs against hand and reference values, shapes, the learner."""
import math

import pandas as pd
import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence as torch_kl

from contextlm.vae.config import VAEConfig, VAEConfigError
from contextlm.vae.data import pad_batch, sentence_dataloaders
from contextlm.vae.ladder import LadderVAE, gaussian_kl, merge
from contextlm.vae.learner import load_vae_learner, vae_learner
from contextlm.vae.model import build_vae
from contextlm.vae.objectives import iw_nll, kl_divergence, vae_loss

torch.set_num_threads(1)

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book"]
TINY = dict(emb_sz=32, enc_hidden=32, dec_hidden=48, ladder_sizes=[8, 4], ladder_hidden=32, conv_channels=32)


def tiny_ladder(**kw) -> LadderVAE:
    torch.manual_seed(0)
    cfg = {**dict(vocab_sz=20, emb_sz=8, enc_hidden=8, dec_hidden=8, arch="ladder", ladder_sizes=[8, 4],
                  ladder_hidden=16, conv_channels=8), **kw}
    return build_vae(VAEConfig(**cfg))


def batch():
    return pad_batch([[2, 5, 6, 7, 3], [2, 8, 3], [2, 9, 10, 11, 12, 3, 13, 14, 15, 3]], pad_id=1)


# -- math ----------------------------------------------------------------------------------
def test_merge_matches_hand_computation():
    # bottom-up N(1, 1), top-down N(3, 4): precisions 1 and 1/4 -> var_q = 1 / 1.25 = 0.8,
    # mu_q = (1/1 + 3/4) * 0.8 = 1.4
    mu, logvar = merge(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([3.0]), torch.tensor([math.log(4.0)]))
    assert float(mu) == pytest.approx(1.4) and float(logvar.exp()) == pytest.approx(0.8)
    # a vague top-down Gaussian leaves the bottom-up one; equal variances halve it at the midpoint
    mu, logvar = merge(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([3.0]), torch.tensor([30.0]))
    assert float(mu) == pytest.approx(1.0) and float(logvar) == pytest.approx(0.0, abs=1e-6)
    mu, logvar = merge(torch.tensor([-2.0]), torch.tensor([0.5]), torch.tensor([2.0]), torch.tensor([0.5]))
    assert float(mu) == pytest.approx(0.0) and float(logvar) == pytest.approx(0.5 - math.log(2))


def test_layer_kl_matches_torch():
    torch.manual_seed(0)
    mq, lq, mp, lp = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 5)
    ref = torch_kl(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp()))
    assert torch.allclose(gaussian_kl(mq, lq, mp, lp), ref, atol=1e-5)
    assert torch.allclose(gaussian_kl(mq, lq, torch.zeros(5), torch.zeros(5)), kl_divergence(mq, lq), atol=1e-6)


def test_infer_kl_per_layer_and_log_ratio():
    model = tiny_ladder().eval()
    tokens, lengths = batch()
    n = 4000
    with torch.no_grad():
        ups = model.bottom_up(tokens, lengths, None)
        post = model.infer(tokens, lengths, n_samples=n)
    assert post.z.shape == (n * 3, 12) and post.mu.shape == post.logvar.shape == (3, 12)
    assert post.kl.shape == (n * 3, 12) and post.log_ratio.shape == (n * 3,)
    # top layer: closed form against N(0, I) from the bottom-up Gaussian alone, whatever the draw
    assert torch.allclose(post.kl[:, 8:], kl_divergence(*ups[1]).repeat(n, 1), atol=1e-6)
    assert torch.allclose(post.mu[:, 8:], ups[1][0])
    # bottom layer: the closed form against p(z_1 | z_2) at the drawn z_2
    mu_p, lv_p = model.to_prior[0](post.z[:, 8:]).chunk(2, -1)
    mu_q, lv_q = merge(*(t.repeat(n, 1) for t in ups[0]), mu_p, lv_p)
    assert torch.allclose(post.kl[:, :8], gaussian_kl(mu_q, lv_q, mu_p, lv_p), atol=1e-5)
    # E_q[log q - log p] is the total KL: the log ratios average to the summed KL units
    lr, kl = post.log_ratio.view(n, 3).mean(0), post.kl.sum(-1).view(n, 3).mean(0)
    assert torch.allclose(lr, kl, atol=0.15)


def test_mixture_top_layer_kl_against_monte_carlo_reference():
    model = tiny_ladder(prior="gmm", components=3).eval()
    tokens, lengths = batch()
    n = 20000
    with torch.no_grad():
        mu_hat, lv_hat = model.bottom_up(tokens, lengths, None)[1]
        post = model.infer(tokens, lengths, n_samples=n)
        assert post.kl.shape == (n * 3, 9)                                 # 8 closed-form units + 1 MC unit
        p = model.prior
        mix = MixtureSameFamily(Categorical(logits=p.logits), Independent(Normal(p.means, (0.5 * p.logvars).exp()), 1))
        q = Independent(Normal(mu_hat, (0.5 * lv_hat).exp()), 1)
        z = q.sample((n,))
        ref = (q.log_prob(z) - mix.log_prob(z)).mean(0)
    assert torch.allclose(post.kl[:, 8].view(n, 3).mean(0), ref, atol=0.1)
    groups = model.latent_groups()
    assert groups["z2"] == (slice(8, 9), slice(8, 12)) and groups["z1"] == (slice(0, 8), slice(0, 8))
    assert model.sample_prior(5, component=2).shape == (5, 12)
    assert model.assign_components(model.sample_prior(5)).shape == (5,)


# -- shapes, determinism, the loss -------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(), dict(ladder_layers="conv"), dict(ladder_layers="conv", kernel_size=4),
                                dict(ladder_sizes=[6, 4, 2], n_labels=2)])
def test_shapes_loss_terms_and_padding_invariance(kw):
    model = tiny_ladder(**kw)
    tokens, lengths = batch()
    cond = torch.tensor([0, 1, 1]) if kw.get("n_labels") else None
    z_dim = sum(model.config.ladder_sizes)
    logits, mu, logvar, kl, aux = model(tokens, lengths, cond)
    assert logits.shape == (3, 9, 20) and mu.shape == logvar.shape == kl.shape == (3, z_dim) and aux.shape == (3, 0)
    loss, terms = vae_loss((logits, mu, logvar, kl, aux), tokens[:, 1:], pad_id=1, groups=model.latent_groups())
    layers = [f"kl_z{i + 1}" for i in range(len(model.config.ladder_sizes))]
    assert sum(terms[k] for k in layers) == pytest.approx(terms["kl"], rel=1e-5)
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n.startswith(("up", "to_gauss", "to_prior")))
    model.eval()
    mu0, lv0 = model.encode(tokens, lengths, cond)
    assert torch.equal(mu0, model.encode(tokens, lengths, cond)[0])           # deterministic
    alone = model.encode(tokens[1:2, :3], lengths[1:2], None if cond is None else cond[1:2])
    assert torch.allclose(alone[0], mu0[1:2], atol=1e-5) and torch.allclose(alone[1], lv0[1:2], atol=1e-5)
    assert model.sample_prior(4).shape == (4, z_dim) and len(model.generate(model.sample_prior(4), None if cond is None
                                                                             else cond.new_tensor([0, 1, 0, 1]))) == 4


@pytest.mark.parametrize("kwargs, word", [(dict(ladder_sizes=[4, 8]), "must decrease"),
                                          (dict(ladder_sizes=[4, 4]), "must decrease"),
                                          (dict(ladder_sizes=[]), "non-empty"),
                                          (dict(latent_map=True, seq_len=10), "latent_map")])
def test_bad_ladder_config(kwargs, word):
    with pytest.raises(VAEConfigError, match=word) as err:
        tiny_ladder(**kwargs)
    assert "\n" not in str(err.value)


# -- learner ------------------------------------------------------------------------------
def ladder_dls():
    df = pd.DataFrame({"text": SENTS + SENTS[:2], "split": ["train"] * 6 + ["valid"] * 2})
    return sentence_dataloaders(df, tokenizer="whitespace", bs=6, seed=0)


@pytest.fixture(scope="module")
def overfit():
    """A tiny two-layer ladder trained on six sentences until it reproduces them."""
    torch.manual_seed(0)
    learn = vae_learner(ladder_dls(), dict(arch="ladder", **TINY))
    learn.kl_weight = 0.01
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(60, 3e-2)
    return learn


def test_overfits_and_records_layer_metrics(overfit):
    assert overfit.reconstruct(SENTS) == SENTS
    names = overfit.recorder.metric_names
    assert {"kl_z1", "au_z1", "kl_z2", "au_z2", "au", "kl"} <= set(names)
    row = dict(zip(names[1:], overfit.recorder.values[-1]))
    assert row["kl_z1"] + row["kl_z2"] == pytest.approx(row["kl"], rel=1e-4)
    assert row["au_z1"] + row["au_z2"] == row["au"]


def test_save_load_same_encodings_and_decodes(overfit, tmp_path):
    overfit.save_model(tmp_path / "ladder")
    loaded = load_vae_learner(tmp_path / "ladder")
    assert isinstance(loaded.model, LadderVAE)
    assert torch.equal(loaded.encode(SENTS), overfit.encode(SENTS))
    z = overfit.encode(SENTS)
    assert loaded.decode(z) == overfit.decode(z) == SENTS


def test_text_methods_and_iw_nll(overfit):
    assert overfit.encode(SENTS).shape == (6, 12)
    assert len(overfit.sample(3)) == 3 and all(isinstance(s, str) for s in overfit.sample(3, method="greedy"))
    table = overfit.interpolate(SENTS[3], SENTS[4], steps=5, path="slerp")
    assert table["text"].iloc[0] == SENTS[3] and table["text"].iloc[-1] == SENTS[4]
    near = overfit.neighbours(SENTS[0], k=2)
    assert near["text"].iloc[0] == SENTS[0] and near["cosine"].iloc[0] == pytest.approx(1.0)
    assert overfit.reconstruct(SENTS[:2], method="beam", beam_size=3) == SENTS[:2]
    tokens, lengths = pad_batch(overfit.vocab.encode(SENTS), overfit.vocab.pad_id)
    iw = iw_nll(overfit.model.eval(), tokens, lengths, k=12, chunk=5)
    assert iw.shape == (6,) and torch.isfinite(iw).all() and (iw > 0).all()


def test_conv_ladder_learner_trains():
    torch.manual_seed(0)
    learn = vae_learner(ladder_dls(), dict(arch="ladder", ladder_layers="conv", prior="gmm", components=2, **TINY))
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(3, 1e-2)
    names = learn.recorder.metric_names
    assert {"kl_z1", "au_z2"} <= set(names) and all(math.isfinite(v) for v in learn.recorder.values[-1])
    assert learn.encode(SENTS).shape == (6, 12) and len(learn.sample(2, component=1)) == 2
