"""Settings: one definition of every option, checked the same way from Python, a JSON
file and the command line."""
import json

import pytest

from contextlm.cli import build_parser
from contextlm.errors import ContextLMError
from contextlm.lm.settings import LMSettings
from contextlm.settings import settings_from_args
from contextlm.tense.settings import TrainSettings
from contextlm.vae.config import VAEConfig
from contextlm.vae.settings import SentenceVAESettings, VAETrainSettings


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_a_config_file_and_the_same_flags_give_identical_settings(tmp_path):
    flags = ["--emb-sz", "64", "--n-hid", "128", "--features", "energy", "valence", "--context-bias", "--lr", "0.02"]
    from_flags = settings_from_args(LMSettings, parse("train", "lm", "--data", "d.csv", "--out", "o", *flags))
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps(from_flags.to_dict()))
    from_file = settings_from_args(LMSettings, parse("train", "lm", "--data", "d.csv", "--out", "o", "--config", str(cfg)))
    assert from_file == from_flags and from_flags.emb_sz == 64 and from_flags.context_bias is True
    assert from_flags.features == ["energy", "valence"] and from_flags.n_layers == LMSettings().n_layers


def test_flags_override_the_file_and_fill_the_nested_model(tmp_path):
    cfg = tmp_path / "s.json"
    cfg.write_text(json.dumps({"epochs": 7, "free_bits": 0.5, "model": {"latent_sz": 8, "emb_sz": 32}}))
    s = settings_from_args(SentenceVAESettings, parse("train", "vae", "--ptb", "p", "--out", "o", "--config", str(cfg),
                                                      "--epochs", "2", "--latent-sz", "4", "--no-use-latent"),
                           nested={"model": VAEConfig})
    assert (s.epochs, s.free_bits) == (2, 0.5)
    assert s.model == {"latent_sz": 4, "emb_sz": 32, "use_latent": False}


def test_tense_flags_are_its_settings_and_the_vae_network():
    s = settings_from_args(TrainSettings, parse("train", "cvae-tense", "--kl-schedule", "cyclical",
                                                "--latent-sz", "8", "--pairing", "same"), nested={"model": VAEConfig})
    assert (s.kl_schedule, s.pairing, s.model) == ("cyclical", "same", {"latent_sz": 8})
    assert s.epochs == 20 and VAETrainSettings().epochs == 4  # the tense defaults override the family's


@pytest.mark.parametrize("cls, values, message", [
    (LMSettings, {"emb_sz": 0}, r"emb_sz=0 \(--emb-sz\): must be >= 1"),
    (LMSettings, {"drop_mult": -1.0}, r"drop_mult=-1.0 \(--drop-mult\): must be >= 0"),
    (LMSettings, {"seed": -1}, r"seed=-1 \(--seed\): must be >= 0"),
    (LMSettings, {"lr": float("inf")}, r"lr=inf \(--lr\): must be a finite number"),
    (LMSettings, {"bs": 2.5}, r"bs=2.5 \(--bs\): must be a whole number"),
    (LMSettings, {"scaling": "log"}, r"expected one of minmax, standard, none"),
    (LMSettings, {"features": "energy"}, r"must be a list of names"),
    (LMSettings, {"valid_pct": 0.6, "test_pct": 0.5}, r"valid_pct \+ test_pct = 1.1: must be < 1"),
    (SentenceVAESettings, {"features": ["energy"], "label_col": "genre"}, r"not both"),
    (VAETrainSettings, {"kl_warmup": 1.0}, r"kl_warmup=1.0 \(--kl-warmup\): must be <= 0.99"),
    (VAETrainSettings, {"epoch": 3}, r"unknown training setting\(s\) \['epoch'\]"),
])
def test_bad_settings_are_one_line_errors_naming_the_field_and_flag(cls, values, message):
    with pytest.raises(ContextLMError, match=message):
        cls.from_dict(values)


def test_settings_round_trip_and_a_json_list_is_refused(tmp_path):
    s = LMSettings(labels=["playlist_genre"], context_proj=16)
    assert LMSettings.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ContextLMError, match="must be a JSON object"):
        LMSettings.from_dict([s.to_dict()])
    bad = tmp_path / "list.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ContextLMError, match="settings must be a JSON object, got list"):
        settings_from_args(LMSettings, parse("train", "lm", "--data", "d", "--out", "o", "--config", str(bad)))
