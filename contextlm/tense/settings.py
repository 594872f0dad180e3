"""Training settings of the tense CVAE, light enough for the CLI to read its defaults
without importing torch."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..settings import JSONSettings

# The network (VAEConfig fields). Small on purpose: words are short, the alphabet has 26
# letters, and training must fit minutes on 2 CPU cores. A 4-dimensional z: prior samples
# land on some verb's posterior far more often than in 32 or 8 dimensions (Gaussian score,
# bench/tense.py, seed 0: 32 dims 0.33, 8 dims 0.52, 4 dims 0.62 at BLEU-4 1.0).
DEFAULT_CONFIG: dict[str, Any] = dict(emb_sz=64, enc_hidden=256, dec_hidden=256, latent_sz=4, label_emb_sz=8)


@dataclass
class TrainSettings(JSONSettings):
    """Everything `train_tense_cvae` needs besides the data; saved with the model."""
    settings_name = "training setting"
    epochs: int = 20  # 3 seeds: BLEU-4 1.000, Gaussian 0.653, ~8 CPU-min each (bench/tense.py)
    lr: float = 3e-3
    bs: int = 64
    pairing: str = "all"
    kl_schedule: str = "linear"     # linear (monotonic) | cyclical | logistic | constant
    n_cycles: int = 4
    kl_ratio: float = 0.5
    beta_max: float = 1.0
    kl_warmup: float = 0.0
    # 1.75 nats x 4 dimensions: ~7 nats of KL, what tells ~1,200 verbs apart (ln 1227 = 7.1)
    # while the posteriors still cover the prior (the Gaussian score decodes prior samples).
    # 1.5 (6 nats) confused some test verbs: 3 seeds BLEU-4 0.912, Gaussian 0.637.
    free_bits: float = 1.75
    tf_start: float = 1.0           # teacher-forcing ratio at the start of training ...
    tf_end: float = 0.5             # ... and after `tf_ratio` of it (scheduled sampling)
    tf_ratio: float = 1.0
    seed: int = 0
    model: dict[str, Any] = field(default_factory=dict)   # VAEConfig overrides

