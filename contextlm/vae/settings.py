"""Training settings of the VAE family, torch-free so the CLI can make its flags from them.

`VAETrainSettings` holds what every VAE recipe shares (optimisation, KL annealing, free
bits, teacher forcing, the network's `VAEConfig` overrides in `model`); the sentence VAE
adds its data and token settings (`SentenceVAESettings`), the tense CVAE its pairing
(`contextlm.tense.settings.TrainSettings`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ContextLMError
from ..settings import JSONSettings, setting
from .config import VAEConfig
from ..vectors import check_vector_settings

SCHEDULES = ("linear", "cyclical", "logistic", "constant")
TOKENIZERS = ("fastai", "whitespace", "char")


@dataclass
class VAETrainSettings(JSONSettings):
    """fit_one_cycle, KL annealing (Bowman; Fu et al. 2019), free bits (Li et al. 2019) and
    scheduled teacher forcing; `model` overrides `VAEConfig` fields."""
    settings_name = "training setting"
    epochs: int = setting(4, "epochs of fit_one_cycle", "training", min=1, max=100_000)
    lr: float = setting(2e-3, "maximum learning rate of fit_one_cycle", "training", gt=0, max=10)
    bs: int = setting(32, "batch size", "training", min=1, max=65536)
    seed: int = setting(42, "seed of the split, the batches and the weights", "training", min=0, max=2**32 - 1)
    kl_schedule: str = setting("cyclical", "KL annealing: linear (monotonic), cyclical (Fu et al.), logistic, constant",
                               "KL annealing", choices=SCHEDULES)
    n_cycles: int = setting(4, "cycles of the cyclical schedule", "KL annealing", min=1, max=10_000)
    kl_ratio: float = setting(0.5, "share of each cycle (or of training) spent raising beta", "KL annealing",
                              gt=0, max=1)
    beta_max: float = setting(1.0, "largest KL weight", "KL annealing", min=0, max=100)
    kl_warmup: float = setting(0.0, "share of training with beta = 0 (autoencoder pretraining)", "KL annealing",
                               min=0, max=0.99)
    free_bits: float = setting(0.0, "KL floor per latent dimension in nats", "KL annealing", min=0, max=100)
    tf_start: float = setting(1.0, "teacher-forcing ratio at the start of training", "teacher forcing", min=0, max=1)
    tf_end: float = setting(1.0, "teacher-forcing ratio after --tf-ratio of training (below 1: scheduled sampling, "
                                 "step-by-step decoding)", "teacher forcing", min=0, max=1)
    tf_ratio: float = setting(1.0, "share of training over which teacher forcing falls", "teacher forcing",
                              gt=0, max=1)
    iw_samples: int = setting(0, "importance samples for the validation IW-NLL (0: off)", "evaluation", min=0, max=100_000)
    vectors: str | None = setting(None, "initialise the token embedding from this GloVe or word2vec text file (.txt "
                                        "or .gz; its dimension must be --emb-sz); tokens it lacks keep their random "
                                        "init", "pretrained vectors", metavar="FILE")
    freeze_vectors: bool = setting(False, "keep the embedding fixed in training (needs --vectors)", "pretrained vectors")
    model: dict[str, Any] = setting(None, "VAEConfig overrides", cli=False, default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_vector_settings(self.vectors, self.freeze_vectors)
        # the network's own rules (arch, ladder sizes, feature maps) before any data is read
        VAEConfig.check_model(self.model, seq_len=getattr(self, "max_len", 10_000) + 2)

    @property
    def kl_annealing(self) -> dict[str, Any]:
        """Keyword arguments of `KLAnnealing`."""
        return dict(schedule=self.kl_schedule, n_cycles=self.n_cycles, ratio=self.kl_ratio,
                    beta_max=self.beta_max, warmup=self.kl_warmup)


@dataclass
class SentenceVAESettings(VAETrainSettings):
    """Everything `train_vae` needs besides the data file: corpus columns, tokens, the
    condition, the network (`model`) and training."""
    text_col: str = setting("text", "text column", "corpus")
    split_col: str | None = setting(None, "column with train/valid/test (default: 'split' if present, else a "
                                          "seeded random split)", "corpus")
    group_col: str | None = setting(None, "keep rows of one group (e.g. album) in one split", "corpus")
    valid_pct: float = setting(0.1, "share of rows for validation when splitting at random", "corpus", min=0, max=0.9)
    test_pct: float = setting(0.1, "share of rows for testing when splitting at random", "corpus", min=0, max=0.9)
    sentences: bool = setting(False, "split documents into sentences (each keeps its document's features)", "corpus")
    features: list[str] = setting(None, "condition on these feature columns", "condition", default_factory=list)
    label_col: str | None = setting(None, "condition on the labels of this column (CVAE)", "condition")
    scaling: str = setting("minmax", "feature scaling fitted on the train split", "condition",
                           choices=("minmax", "standard", "none"))
    drop_missing: bool = setting(False, "drop rows with empty text or missing features (and say how many)", "corpus")
    encoding: str = setting("utf-8", "text encoding of the file", "corpus")
    tokenizer: str | None = setting(None, "fastai, whitespace or char (default: whitespace for PTB, else fastai)",
                                    "tokens", choices=TOKENIZERS)
    max_len: int = setting(40, "tokens kept per sentence (longer ones are cut)", "tokens", min=1, max=10_000)
    min_freq: int = setting(1, "rarer tokens become <unk>", "tokens", min=1, max=10**6)
    max_vocab: int = setting(60000, "largest vocabulary", "tokens", min=5, max=10**7)
    epoch_size: int | None = setting(None, "sentences per training epoch (a fresh random subset each epoch)",
                                     "training", min=1, max=10**9)
    grad_clip: float = setting(5.0, "gradient norm clip (0: off)", "training", min=0, max=10**6)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.features and self.label_col:
            raise ContextLMError("condition on --features or on --label-col, not both")
        if self.valid_pct + self.test_pct >= 1:
            raise ContextLMError(f"valid_pct + test_pct = {self.valid_pct + self.test_pct:g}: must be < 1")
