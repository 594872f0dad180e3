"""Training settings of the tense CVAE, light enough for the CLI to read its defaults
without importing torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..settings import setting
from ..vae.settings import SCHEDULES, VAETrainSettings

# The network (VAEConfig fields). Small on purpose: words are short, the alphabet has 26
# letters, and training must fit minutes on 2 CPU cores. A 4-dimensional z: prior samples
# land on some verb's posterior far more often than in 32 or 8 dimensions (Gaussian score,
# bench/tense.py, seed 0: 32 dims 0.33, 8 dims 0.52, 4 dims 0.62 at BLEU-4 1.0).
DEFAULT_CONFIG: dict[str, Any] = dict(emb_sz=64, enc_hidden=256, dec_hidden=256, latent_sz=4, label_emb_sz=8)


@dataclass
class TrainSettings(VAETrainSettings):
    """Everything `train_tense_cvae` needs besides the data; saved with the model."""
    # 3 seeds: BLEU-4 1.000, Gaussian 0.653, ~8 CPU-min each (bench/tense.py)
    epochs: int = setting(20, "epochs of fit_one_cycle", "training", min=1)
    lr: float = setting(3e-3, "maximum learning rate of fit_one_cycle", "training", gt=0, max=10)
    bs: int = setting(64, "batch size", "training", min=1)
    seed: int = setting(0, "seed of the batches and the weights", "training", min=0, max=2**32 - 1)
    kl_schedule: str = setting("linear", "KL annealing: linear (monotonic), cyclical (Fu et al.), logistic, constant",
                               "KL annealing", choices=SCHEDULES)
    # 1.75 nats x 4 dimensions: ~7 nats of KL, what tells ~1,200 verbs apart (ln 1227 = 7.1)
    # while the posteriors still cover the prior (the Gaussian score decodes prior samples).
    # 1.5 (6 nats) confused some test verbs: 3 seeds BLEU-4 0.912, Gaussian 0.637.
    free_bits: float = setting(1.75, "KL floor per latent dimension in nats", "KL annealing", min=0)
    tf_end: float = setting(0.5, "teacher-forcing ratio after --tf-ratio of training (scheduled sampling)",
                            "teacher forcing", min=0, max=1)
    pairing: str = setting("all", "reconstruct every form from every form (all) or each form from itself "
                                  "(same, the lab's)", "training", choices=("all", "same"))
