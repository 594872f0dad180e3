"""Training settings of the tense CVAE, light enough for the CLI to read its defaults
without importing torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import override, setting
from ..vae.settings import VAETrainSettings

# The network (VAEConfig fields). Small on purpose: words are short, the alphabet has 26
# letters, and training must fit minutes on 2 CPU cores. A 4-dimensional z: prior samples
# land on some verb's posterior far more often than in 32 or 8 dimensions (Gaussian score,
# bench/tense.py, seed 0: 32 dims 0.33, 8 dims 0.52, 4 dims 0.62 at BLEU-4 1.0).
DEFAULT_CONFIG: dict[str, Any] = dict(emb_sz=64, enc_hidden=256, dec_hidden=256, latent_sz=4, label_emb_sz=8)


@dataclass
class TrainSettings(VAETrainSettings):
    """Everything `train_tense_cvae` needs besides the data; saved with the model."""
    epochs: int = override(VAETrainSettings, "epochs", 20)  # 3 seeds: BLEU-4 1.000, Gaussian 0.653, ~8 CPU-min each
    lr: float = override(VAETrainSettings, "lr", 3e-3)
    bs: int = override(VAETrainSettings, "bs", 64)
    seed: int = override(VAETrainSettings, "seed", 0)
    kl_schedule: str = override(VAETrainSettings, "kl_schedule", "linear")
    # 1.75 nats x 4 dimensions: ~7 nats of KL, what tells ~1,200 verbs apart (ln 1227 = 7.1)
    # while the posteriors still cover the prior (the Gaussian score decodes prior samples).
    # 1.5 (6 nats) confused some test verbs: 3 seeds BLEU-4 0.912, Gaussian 0.637.
    free_bits: float = override(VAETrainSettings, "free_bits", 1.75)
    tf_end: float = override(VAETrainSettings, "tf_end", 0.5)
    pairing: str = setting("all", "reconstruct every form from every form (all) or each form from itself "
                                  "(same, the lab's)", "training", choices=("all", "same"))
