"""Settings of the conditioned language model: one definition of every option, used by
`train_lm`, `contextlm train lm` (the flags are these field names), the benchmarks and
the notebooks. Torch-free, so the CLI builds its parser without loading torch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ContextLMError
from ..settings import JSONSettings, setting
from ..vectors import check_vector_settings

SCALINGS = ("minmax", "standard", "none")


@dataclass
class LMSettings(JSONSettings):
    """Corpus columns, tokens, the network (fastai's AWD-LSTM plus where the context
    enters) and training. Defaults: fastai's AWD-LSTM (400/1152/3)."""
    settings_name = "LM setting"
    # corpus
    text_col: str = setting("text", "text column", "corpus")
    features: list[str] = setting(None, "numeric feature columns the model is conditioned on", "corpus",
                                  default_factory=lambda: ["energy"])
    labels: list[str] = setting(None, "label columns (e.g. playlist_genre) the model is conditioned on, as learned "
                                      "embeddings", "corpus", default_factory=list)
    id_col: str | None = setting(None, "document id column (default: row number)", "corpus")
    split_col: str | None = setting(None, "column with train/valid/test (default: 'split' if present, else random)",
                                    "corpus")
    group_col: str | None = setting(None, "keep each group (e.g. album) in one split when splitting at random",
                                    "corpus")
    valid_pct: float = setting(0.1, "share of documents for validation when splitting at random", "corpus",
                               min=0, max=0.9)
    test_pct: float = setting(0.1, "share of documents for testing when splitting at random", "corpus",
                              min=0, max=0.9)
    drop_missing: bool = setting(False, "drop rows with empty or over-long text or missing/invalid features "
                                        "(and say how many)", "corpus")
    encoding: str = setting("utf-8", "text encoding of the file", "corpus")
    max_chars: int = setting(100_000, "longest document accepted", "corpus", min=1, max=10**8)
    # tokens and scaling
    min_freq: int = setting(2, "rarer tokens become xxunk", "tokens and scaling", min=1, max=10**6)
    max_vocab: int = setting(60000, "largest vocabulary", "tokens and scaling", min=8, max=10**7)
    scaling: str = setting("standard", "feature scaling fitted on the train split (standard: centred inputs "
                                       "train far better)", "tokens and scaling", choices=SCALINGS)
    # model
    emb_sz: int = setting(400, "word embedding size", "model", min=1, max=65536)
    n_hid: int = setting(1152, "LSTM hidden size", "model", min=1, max=65536)
    n_layers: int = setting(3, "LSTM layers", "model", min=1, max=64)
    tie_weights: bool = setting(True, "the output layer is the word embedding matrix (fastai's default)", "model")
    drop_mult: float = setting(1.0, "multiplier of all AWD-LSTM dropouts (the largest, input_p 0.6, must stay <= 1)", "model", min=0, max=1.6)
    context_input: bool = setting(True, "context concatenated to every word embedding", "where the context enters")
    context_init: bool = setting(False, "context also sets the LSTM state at every document start",
                                 "where the context enters")
    context_bias: bool = setting(False, "context also shifts the output logits (a linear map to the vocabulary)",
                                 "where the context enters")
    context_proj: int = setting(0, "project the context to this size first (0: none)", "where the context enters",
                                min=0, max=65536)
    context_dropout: float = setting(0.0, "probability of replacing a row's context by the learned null context in "
                                          "training (needed for --guidance)", "where the context enters",
                                     min=0, max=1)
    label_emb_sz: int = setting(8, "embedding size of each label column", "where the context enters", min=1, max=4096)
    # pretrained vectors
    vectors: str | None = setting(None, "initialise the word embedding from this GloVe or word2vec text file (.txt or "
                                        ".gz; its dimension must be --emb-sz); words it lacks keep their random init",
                                  "pretrained vectors", metavar="FILE")
    freeze_vectors: bool = setting(False, "keep the embedding fixed in training (needs --vectors and "
                                          "--no-tie-weights)", "pretrained vectors")
    # training
    bs: int = setting(32, "batch size (parallel streams)", "training", min=1, max=65536)
    bptt: int = setting(70, "tokens per window (back-propagation through time)", "training", min=1, max=100_000)
    epochs: int = setting(4, "epochs of fit_one_cycle", "training", min=1, max=100_000)
    lr: float = setting(3e-3, "maximum learning rate of fit_one_cycle", "training", gt=0, max=10)
    wd: float = setting(0.1, "weight decay", "training", min=0, max=10)
    seed: int = setting(42, "seed of the split, the batches and the weights", "training", min=0, max=2**32 - 1)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.valid_pct + self.test_pct >= 1:
            raise ContextLMError(f"valid_pct + test_pct = {self.valid_pct + self.test_pct:g}: must be < 1")
        check_vector_settings(self.vectors, self.freeze_vectors, tied=self.tie_weights)

    def arch(self) -> dict[str, Any]:
        """The AWD-LSTM config keys these settings set (the rest are fastai's defaults)."""
        return dict(emb_sz=self.emb_sz, n_hid=self.n_hid, n_layers=self.n_layers, tie_weights=self.tie_weights,
                    context_input=self.context_input, context_init=self.context_init,
                    context_bias=self.context_bias, context_proj=self.context_proj,
                    context_dropout=self.context_dropout, label_emb_sz=self.label_emb_sz)
