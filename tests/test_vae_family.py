"""The VAE family's shared parts: mixture prior, GRU cells, the recurrent feature-map latent,
generic IW-NLL, the comparison table and the commands that use any member
(`sample --component`, `neighbours`, `evaluate-vae`)."""
import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import distributions as D

from contextlm.cli import main
from contextlm.errors import ContextLMError
from contextlm.vae.config import VAEConfig, VAEConfigError
from contextlm.vae.data import pad_batch, sentence_dataloaders
from contextlm.vae.evaluate import compare_vaes, evaluate_vae
from contextlm.vae.learner import load_vae_learner, vae_learner
from contextlm.vae.model import SentenceVAE, build_vae
from contextlm.vae.objectives import iw_nll, kl_divergence
from contextlm.vae.priors import MixturePrior, StandardNormal

torch.set_num_threads(1)

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book"]
TINY = dict(emb_sz=16, enc_hidden=16, dec_hidden=32, latent_sz=4)


def frame(sents=SENTS, n_valid=2):
    return pd.DataFrame({"text": sents, "split": ["train"] * (len(sents) - n_valid) + ["valid"] * n_valid})


def batch():
    return pad_batch([[2, 5, 6, 7, 3], [2, 8, 3], [2, 9, 10, 11, 12, 3]], pad_id=1)


def model(**kw):
    torch.manual_seed(0)
    return build_vae(VAEConfig(**{**dict(vocab_sz=20, seq_len=8, **TINY), **kw}))


def overfit(config, epochs=60, kl_weight=0.05):
    dls = sentence_dataloaders(frame(SENTS + SENTS[:2]), tokenizer="whitespace", bs=6, seed=0, max_len=8)
    torch.manual_seed(0)
    learn = vae_learner(dls, {**dict(emb_sz=32, enc_hidden=32, dec_hidden=48, latent_sz=8), **config})
    learn.kl_weight = kl_weight
    with learn.no_bar(), learn.no_logging():
        learn.fit(epochs, 1e-2)
    return learn


# -- mixture prior -----------------------------------------------------------------------
def reference_mixture(prior: MixturePrior) -> D.MixtureSameFamily:
    comps = D.Independent(D.Normal(prior.means, (0.5 * prior.logvars).exp()), 1)
    return D.MixtureSameFamily(D.Categorical(logits=prior.logits), comps)


def test_mixture_log_prob_matches_torch_distributions():
    torch.manual_seed(0)
    prior = MixturePrior(3, 5)
    with torch.no_grad():
        prior.logvars.normal_(0, 0.5), prior.logits.normal_()
    z = torch.randn(7, 3)
    assert torch.allclose(prior.log_prob(z), reference_mixture(prior).log_prob(z), atol=1e-5)


def test_mixture_kl_is_an_unbiased_monte_carlo_estimate():
    torch.manual_seed(1)
    prior = MixturePrior(2, 3)
    mu, logvar = torch.tensor([[0.5, -1.0]]), torch.tensor([[-0.5, 0.3]])
    q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
    ref = reference_mixture(prior)
    zs = q.sample((200_000,))                                   # an independent reference estimate
    reference = float((q.log_prob(zs) - ref.log_prob(zs)).mean())
    z = SentenceVAE.reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2))
    ours = prior.kl(z, mu, logvar)
    assert ours.shape == (200_000, 1)
    assert float(ours.mean()) == pytest.approx(reference, abs=0.02)
    # with a single standard-normal component the estimate averages to the closed form
    one = MixturePrior(2, 1)
    with torch.no_grad():
        one.means.zero_()
    assert float(one.kl(z, mu, logvar).mean()) == pytest.approx(float(kl_divergence(mu, logvar).sum()), abs=0.02)


def test_mixture_samples_a_chosen_component_and_assigns_it_back():
    torch.manual_seed(0)
    prior = MixturePrior(4, 3)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[8.0] * 4, [0.0] * 4, [-8.0] * 4]))
        prior.logvars.fill_(-2.0)
    z = prior.sample((500,), component=2)
    assert z.shape == (500, 4) and torch.allclose(z.mean(0), torch.full((4,), -8.0), atol=0.1)
    assert prior.assign(z).eq(2).all()
    with pytest.raises(VAEConfigError, match="components 0..2"):
        prior.sample((2,), component=3)
    with pytest.raises(VAEConfigError, match="not a mixture"):
        StandardNormal(4).sample((2,), component=0)


def test_gmm_model_scores_kl_by_monte_carlo_and_iw_stays_below_elbo(tmp_path):
    learn = overfit(dict(prior="gmm", components=3), epochs=60)
    assert learn.reconstruct(SENTS) == SENTS
    learn.save_model(tmp_path / "gmm")
    again = load_vae_learner(tmp_path / "gmm")                  # the mixture's parameters travel too
    assert torch.equal(again.encode(SENTS), learn.encode(SENTS))
    assert torch.equal(again.model.prior.means, learn.model.prior.means)
    m = learn.model.eval()
    tokens, lengths = pad_batch(learn.vocab.encode(SENTS, 8), 1)
    logits, mu, logvar, kl, aux = m(tokens, lengths)
    assert kl.shape == (6, 1) and aux.shape == (6, 0) and sum(p.numel() for p in m.prior.parameters()) == 3 * 8 * 2 + 3
    torch.manual_seed(0)
    neg_elbo = torch.stack([torch.nn.functional.cross_entropy(m(tokens, lengths)[0].transpose(1, 2), tokens[:, 1:],
                            ignore_index=1, reduction="none").sum(1) + m(tokens, lengths)[3].sum(1)
                            for _ in range(20)]).mean(0)
    iw = iw_nll(m, tokens, lengths, k=50)
    assert torch.isfinite(iw).all() and float(iw.mean()) <= float(neg_elbo.mean()) + 0.1
    # sampling from one component, and the latent plot's colours
    assert len(learn.sample(3, component=2)) == 3
    with pytest.raises(VAEConfigError, match="components 0..2"):
        learn.sample(2, component=5)
    assert set(m.assign_components(learn.encode(SENTS)).tolist()) <= {0, 1, 2}


# -- cells and the recurrent feature map ----------------------------------------------------
def test_gru_cells_train_generate_and_reload(tmp_path):
    learn = overfit(dict(cell="gru"))
    assert isinstance(learn.model.decoder, torch.nn.GRU) and isinstance(learn.model.encoder, torch.nn.GRU)
    assert learn.reconstruct(SENTS) == SENTS
    assert learn.reconstruct(SENTS, method="beam", beam_size=3) == SENTS
    learn.save_model(tmp_path / "gru")
    again = load_vae_learner(tmp_path / "gru")
    assert torch.equal(again.encode(SENTS), learn.encode(SENTS)) and again.reconstruct(SENTS) == SENTS


def test_recurrent_feature_map_has_one_gaussian_per_position():
    m = model(latent_map=True).eval()
    tokens, lengths = batch()
    assert m.config.positions == 8 and m.config.z_dim == 8 * 4
    mu, logvar = m.encode(tokens, lengths)
    assert mu.shape == (3, 32)
    per_pos = mu.view(3, 8, 4)
    assert per_pos[1, 3:].abs().sum() == 0 and per_pos[1, :3].abs().sum() > 0   # padding = the prior
    _, _, _, kl, _ = m(tokens, lengths)
    assert kl.shape == (3, 32) and torch.allclose(kl, kl_divergence(mu, logvar))
    assert kl.view(3, 8, 4)[1, 3:].sum() == 0                                      # no KL for padding
    # decoder step t reads position t's code: changing the code at position 5 changes step 5 only
    z = m.sample_prior(1)
    inp = torch.tensor([[2, 5, 6, 7, 8, 9, 10]])
    moved = z.clone().view(1, 8, 4)
    moved[0, 5] += 3.0
    a, b = m.decode(z, inp), m.decode(moved.view(1, -1), inp)
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6) and not torch.allclose(a[:, 5], b[:, 5])


def test_recurrent_feature_map_overfits_and_samples():
    learn = overfit(dict(latent_map=True, latent_sz=4), epochs=120, kl_weight=0.01)
    assert learn.reconstruct(SENTS) == SENTS
    assert len(learn.sample(4)) == 4
    assert len(learn.interpolate(SENTS[0], SENTS[1], steps=3)) == 3


def test_family_arguments_are_one_line_errors():
    with pytest.raises(VAEConfigError, match="arch='nosuch'"):
        model(arch="nosuch")
    with pytest.raises(VAEConfigError, match="components=0"):
        model(prior="gmm", components=0)
    with pytest.raises(VAEConfigError, match="seq_len"):
        VAEConfig(vocab_sz=20, latent_map=True)
    with pytest.raises(VAEConfigError, match=r"latent codes must be \[B, 4\]"):
        model().generate(torch.zeros(2, 5))


# -- comparing members on the same sentences ---------------------------------------------------
def test_compare_vaes_lines_up_a_vae_and_its_lm_twin():
    vae = overfit({}, epochs=20)
    torch.manual_seed(0)
    lm = vae_learner(vae.dls, dict(emb_sz=32, dec_hidden=48, use_latent=False))
    with lm.no_bar(), lm.no_logging():
        lm.fit(5, 1e-2)
    dl = vae.sentence_loader(SENTS)
    table = compare_vaes({"vae": vae, "lm": lm}, dl, iw_samples=5)
    assert list(table.index) == ["vae", "lm"] and list(table.columns[:7]) == [
        "neg_elbo", "recon", "kl", "iw_nll", "iw_ppl", "au", "mi"]
    assert table.loc["lm", "kl"] == 0 and table.loc["lm", "iw_nll"] == pytest.approx(table.loc["lm", "recon"], rel=1e-4)
    assert table.loc["vae", "neg_elbo"] == pytest.approx(table.loc["vae", "recon"] + table.loc["vae", "kl"], rel=1e-4)
    assert table.loc["vae", "params"] > table.loc["lm", "params"]
    row = evaluate_vae(vae, dl, iw_samples=3, iw_sentences=2)
    assert row["iw_sentences"] == 2
    with pytest.raises(ContextLMError, match="no models"):
        compare_vaes({}, dl)


# -- commands -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("family_cli")
    data = tmp / "sents.csv"
    pd.DataFrame({"text": SENTS * 4, "split": (["train"] * 4 + ["valid", "test"]) * 4}).to_csv(data, index=False)
    tiny = ["--emb-sz", "16", "--dec-hidden", "16", "--enc-hidden", "8", "--latent-sz", "4", "--epochs", "1",
            "--bs", "4", "--tokenizer", "whitespace"]
    gmm, twin = tmp / "gmm", tmp / "twin"
    assert main(["train", "vae", "--data", str(data), "--prior", "gmm", "--components", "3", "--cell", "gru",
                 "--out", str(gmm), *tiny]) == 0
    assert main(["train", "vae", "--data", str(data), "--no-use-latent", "--out", str(twin), *tiny]) == 0
    return data, gmm, twin


def test_train_gmm_from_the_command_line(saved, tmp_path, capsys):
    data, gmm, _ = saved
    cfg = json.loads((gmm / "config.json").read_text())["model"]
    assert (cfg["prior"], cfg["components"], cfg["cell"]) == ("gmm", 3, "gru")
    assert (gmm / "latent.png").stat().st_size > 0
    assert main(["sample", "--model", str(gmm), "--component", "1", "-n", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3
    assert main(["sample", "--model", str(gmm), "--component", "7"]) == 2
    assert "components 0..2" in capsys.readouterr().err


def test_neighbours_command(saved, tmp_path, capsys):
    _, gmm, twin = saved
    pool = tmp_path / "pool.txt"
    pool.write_text("\n".join(SENTS))
    out = tmp_path / "near.csv"
    assert main(["neighbours", SENTS[2], "--model", str(gmm), "--pool", str(pool), "-k", "3", "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 3 and table["cosine"].is_monotonic_decreasing
    assert main(["neighbours", SENTS[2], "--model", str(twin), "--pool", str(pool)]) == 2
    assert "no latent space" in capsys.readouterr().err


def test_evaluate_vae_command_writes_one_row_per_model(saved, tmp_path, capsys):
    data, gmm, twin = saved
    out = tmp_path / "zoo.csv"
    assert main(["evaluate-vae", str(gmm), str(twin), "--data", str(data), "--iw-samples", "3",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert table["model"].tolist() == [str(gmm), str(twin)]
    assert {"neg_elbo", "recon", "kl", "iw_nll", "au", "mi", "params"} <= set(table.columns)
    assert np.isfinite(table["iw_nll"]).all() and table.loc[1, "kl"] == 0
    assert main(["evaluate-vae", str(tmp_path), "--data", str(data)]) == 2
    assert "not a model folder" in capsys.readouterr().err
    assert main(["evaluate-vae", str(gmm), "--data", str(data), "--out", str(out)]) == 2   # exists, no --overwrite


@pytest.mark.parametrize("flags, message", [
    (["--arch", "nosuch"], "arch='nosuch' (--arch): expected one of rnn, cnn, hybrid, ladder"),
    (["--arch", "ladder", "--ladder-sizes", "4", "8"], "ladder_sizes=[4, 8]: must decrease"),
    (["--prior", "gmm", "--components", "0"], "argument --components: 0: must be >= 1"),
    (["--arch", "cnn", "--conv-layers", "6"], "conv_layers=6 would halve seq_len=42"),
    (["--arch", "ladder", "--latent-map"], "latent_map works with arch rnn, cnn, hybrid"),
])
def test_family_flags_are_one_line_errors_before_anything_is_read(flags, message, tmp_path, capsys):
    try:
        code = main(["train", "vae", "--data", str(tmp_path / "never-read.csv"), "--out", str(tmp_path / "m"), *flags])
    except SystemExit as e:  # argparse's own bounds
        code = e.code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 or err.splitlines()[-1].startswith("contextlm")
    assert code == 2 and message in err and not (tmp_path / "m").exists()


def test_use_commands_run_on_the_named_device(saved, capsys):
    _, gmm, _ = saved
    assert main(["sample", "--model", str(gmm), "-n", "2", "--device", "cpu"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    if not torch.cuda.is_available():
        assert main(["sample", "--model", str(gmm), "--device", "cuda"]) == 2
        assert "--device cuda: no CUDA device" in capsys.readouterr().err


def test_free_bits_are_per_dimension_also_for_monte_carlo_units():
    """A mixture prior's KL is one Monte Carlo unit per position: its floor is free_bits x latent_sz,
    the same total as the Gaussian prior's per-dimension floors (else a mixture model collapses)."""
    from contextlm.vae.objectives import vae_loss
    m = model(prior="gmm", components=2).eval()
    assert m.kl_unit_dims().tolist() == [4.0] and model().kl_unit_dims() is None
    logits, targets = torch.zeros(2, 3, 20), torch.tensor([[5, 6, 3], [7, 3, 1]])
    kl = torch.full((2, 1), 0.1)                          # below the floor 0.5 x 4 = 2 nats
    pred = (logits, None, None, kl, logits.new_zeros(2, 0))
    with_dims = vae_loss(pred, targets, 1, free_bits=0.5, unit_dims=m.kl_unit_dims())[0]
    without = vae_loss(pred, targets, 1, free_bits=0.5)[0]
    assert float(with_dims - without) == pytest.approx(2.0 - 0.5)
