"""KL schedules, teacher forcing, and the VAE metrics the Recorder reports."""
import math

import pandas as pd
import pytest
import torch
from fastai.callback.core import Callback

from contextlm.vae.callbacks import (KLAnnealing, ScheduleError, TeacherForcing, check_schedule, kl_beta,
                                 vae_metrics)
from contextlm.vae.data import sentence_dataloaders
from contextlm.errors import ContextLMError
from contextlm.vae.objectives import active_units, mutual_information
from contextlm.vae.learner import vae_learner

torch.set_num_threads(1)  # tiny models: extra threads only contend on a shared CPU

SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent", "where is the book", "music makes me happy", "we danced all night"]


def tiny_dls(n_rep=2, bs=4):
    df = pd.DataFrame({"text": SENTS * n_rep, "split": (["train"] * 6 + ["valid"] * 2) * n_rep})
    return sentence_dataloaders(df, tokenizer="whitespace", bs=bs, seed=0)


def tiny_learner(dls, config=None, **kw):
    torch.manual_seed(0)
    return vae_learner(dls, dict(emb_sz=16, enc_hidden=16, dec_hidden=16, latent_sz=4, **(config or {})), **kw)


@pytest.mark.parametrize("pct, beta", [(0.0, 0.0), (0.25, 0.5), (0.5, 1.0), (0.9, 1.0), (1.0, 1.0)])
def test_linear_schedule(pct, beta):
    assert kl_beta(pct, "linear", ratio=0.5) == pytest.approx(beta)


@pytest.mark.parametrize("pct, beta", [(0.0, 0.0), (0.0625, 0.5), (0.125, 1.0), (0.2, 1.0), (0.25, 0.0),
                                       (0.3125, 0.5), (0.75, 0.0), (0.8125, 0.5), (1.0, 1.0)])
def test_cyclical_schedule_fu_et_al(pct, beta):
    # 4 cycles of length 0.25; beta rises over the first half of each cycle
    assert kl_beta(pct, "cyclical", n_cycles=4, ratio=0.5) == pytest.approx(beta)


def test_logistic_schedule_midpoint_and_ends():
    assert kl_beta(0.25, "logistic", ratio=0.5) == pytest.approx(0.5)
    assert kl_beta(0.5, "logistic", ratio=0.5) == pytest.approx(0.99)
    assert kl_beta(0.0, "logistic", ratio=0.5) == pytest.approx(0.01)
    assert kl_beta(0.25, "logistic", ratio=0.5, beta_max=0.4) == pytest.approx(0.2)


def test_constant_beta_max_and_warmup():
    assert kl_beta(0.3, "constant", beta_max=0.7) == pytest.approx(0.7)
    # warmup 0.2: beta 0 before, then a linear ramp over half of the remaining 0.8
    assert kl_beta(0.1, "linear", ratio=0.5, warmup=0.2) == 0.0
    assert kl_beta(0.4, "linear", ratio=0.5, warmup=0.2) == pytest.approx(0.5)
    assert kl_beta(0.6, "linear", ratio=0.5, warmup=0.2, beta_max=2.0) == pytest.approx(2.0)


@pytest.mark.parametrize("kwargs, word", [(dict(schedule="sigmoid"), "unknown KL schedule 'sigmoid'"),
                                          (dict(schedule="linear", n_cycles=0), "n_cycles=0"),
                                          (dict(schedule="linear", ratio=0.0), "ratio=0.0"),
                                          (dict(schedule="linear", beta_max=-1), "beta_max=-1"),
                                          (dict(schedule="linear", warmup=1.0), "warmup=1.0")])
def test_bad_schedule_arguments(kwargs, word):
    with pytest.raises(ScheduleError, match=word):
        check_schedule(**kwargs)
    with pytest.raises(ContextLMError, match=word):
        KLAnnealing(**kwargs)


def test_kl_annealing_sets_beta_per_batch_during_fit():
    learn = tiny_learner(tiny_dls(), cbs=KLAnnealing("cyclical", n_cycles=2, ratio=0.5))
    learn.fit(3, 1e-3)
    hist = learn.vae_history.df
    n = len(hist)
    assert n == 3 * len(learn.dls.train)
    expected = [kl_beta(i / n, "cyclical", n_cycles=2, ratio=0.5) for i in range(n)]
    assert hist["beta"].tolist() == pytest.approx(expected)
    assert hist["kl"].gt(0).all() and hist["recon"].gt(0).all()


def test_teacher_forcing_schedule_and_reset():
    tf = TeacherForcing(start=1.0, end=0.2, ratio=0.5)
    assert tf.value_at(0.0) == 1.0 and tf.value_at(0.25) == pytest.approx(0.6) and tf.value_at(0.9) == pytest.approx(0.2)
    learn = tiny_learner(tiny_dls(), cbs=TeacherForcing(start=1.0, end=0.0))
    seen = []

    class Spy(Callback):
        def before_batch(self):
            if self.training:
                seen.append(self.learn.model.teacher_forcing)

    learn.add_cb(Spy())
    learn.fit(2, 1e-3)
    assert seen[0] == 1.0 and seen[-1] < 0.5 and all(a >= b for a, b in zip(seen, seen[1:]))
    assert learn.model.teacher_forcing == 1.0
    with pytest.raises(ScheduleError):
        TeacherForcing(start=1.5)


def test_recorded_metrics_are_consistent():
    learn = tiny_learner(tiny_dls(), iw_samples=4)
    learn.fit(1, 1e-3)
    names = learn.recorder.metric_names[1:-1]
    vals = dict(zip(names, learn.recorder.values[-1]))
    assert {"recon", "kl", "neg_elbo", "elbo_ppl", "iw_nll", "iw_ppl", "au", "mi"} <= set(vals)
    assert vals["neg_elbo"] == pytest.approx(vals["recon"] + vals["kl"], rel=1e-5)
    valid = [ids for ids, _ in learn.dls.valid.dataset]
    n_tokens = sum(len(s) - 1 for s in valid)
    assert vals["elbo_ppl"] == pytest.approx(math.exp(vals["neg_elbo"] * len(valid) / n_tokens), rel=1e-4)
    assert vals["iw_ppl"] == pytest.approx(math.exp(vals["iw_nll"] * len(valid) / n_tokens), rel=1e-4)
    learn.model.eval()
    with torch.no_grad():
        mus = torch.cat([learn.model.encode(tokens, lengths)[0] for tokens, lengths, _ in learn.dls.valid])
    assert vals["au"] == active_units(mus)                             # the posterior means of the valid set


def test_lm_baseline_metrics_exact():
    """The LM has no latent: KL 0, and its IW-NLL is the exact NLL = recon."""
    learn = tiny_learner(tiny_dls(), dict(use_latent=False), iw_samples=3)
    res = dict(zip(["loss", "recon", "kl", "neg_elbo", "elbo_ppl", "iw_nll", "iw_ppl", "au", "mi"],
                   learn.validate()))
    assert res["kl"] == 0 and res["au"] == 0 and res["mi"] == 0
    assert res["iw_nll"] == pytest.approx(res["recon"], rel=1e-5)


def test_active_units_counts_varying_means():
    mus = torch.zeros(100, 5)
    mus[:, 0] = torch.linspace(-1, 1, 100)        # variance ~0.34: active
    mus[:, 1] = 0.001 * torch.randn(100)          # variance ~1e-6: inactive
    mus[:, 2] = torch.linspace(0, 0.5, 100)       # variance ~0.021: active at 0.01
    assert active_units(mus, 0.01) == 2
    assert active_units(mus, 0.05) == 1


def test_mutual_information_extremes():
    torch.manual_seed(0)
    d = 4
    # identical posteriors: z says nothing about x (Monte-Carlo estimate, hence the large batch)
    assert mutual_information(torch.zeros(1024, d), torch.zeros(1024, d)) == pytest.approx(0.0, abs=0.15)
    # far-apart, narrow posteriors: z identifies x, MI reaches log B
    B = 1024
    mu = torch.randn(B, d) * 50
    assert mutual_information(mu, torch.full((B, d), -6.0)) == pytest.approx(math.log(B), abs=0.15)


def test_vae_metrics_names():
    assert [m.name for m in vae_metrics()] == ["recon", "kl", "neg_elbo", "elbo_ppl", "au", "mi"]
    with pytest.raises(ContextLMError):
        vae_metrics(iw_samples=-1)
