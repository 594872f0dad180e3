"""`VAEConfig`: every hyperparameter of a sentence VAE, saved as JSON beside the weights.

Torch-free, so the CLI can read the defaults (and generate its flags) without loading torch.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass

from ..errors import ContextLMError
from ..settings import JSONSettings, setting


class VAEConfigError(ContextLMError, ValueError):
    """A sentence-VAE hyperparameter is out of range."""


@dataclass
class VAEConfig(JSONSettings):
    """Every hyperparameter of a `SentenceVAE`; saved as JSON next to the weights."""
    settings_name, settings_error = "VAE setting", VAEConfigError
    vocab_sz: int = setting(MISSING, "vocabulary size", cli=False, min=5)
    emb_sz: int = setting(256, "token embedding size", "model", min=1, max=65536)
    enc_hidden: int = setting(256, "encoder LSTM size per direction (a small one leaves more to z)", "model", min=1, max=65536)
    dec_hidden: int = setting(256, "decoder LSTM size", "model", min=1, max=65536)
    latent_sz: int = setting(32, "size of z", "model", min=1, max=65536)
    n_layers: int = setting(1, "LSTM layers (encoder and decoder)", "model", min=1, max=64)
    word_dropout: float = setting(0.0, "decoder inputs -> <unk> with this probability (Bowman et al.)", "model",
                                  min=0, max=1)
    emb_dropout: float = setting(0.0, "dropout on embeddings", "model", min=0, max=1)
    out_dropout: float = setting(0.0, "dropout on decoder outputs before the softmax layer", "model", min=0, max=1)
    z_init: bool = setting(True, "initial decoder state from [z; condition]", "model")
    z_concat: bool = setting(True, "z concatenated to every decoder input", "model")
    use_latent: bool = setting(True, "false: the LSTM-LM baseline of the same decoder (no encoder, no z)", "model")
    cond_sz: int = setting(0, "size of a float condition vector (audio features)", cli=False, min=0)
    n_labels: int = setting(0, "number of condition labels (CVAE)", cli=False, min=0)
    label_emb_sz: int = setting(8, "label embedding size (CVAE)", "model", min=1, max=4096)
    cond_encoder: bool = setting(True, "give the condition to the encoder as well", "model")
    pad_id: int = setting(1, cli=False, min=0)
    bos_id: int = setting(2, cli=False, min=0)
    eos_id: int = setting(3, cli=False, min=0)
    unk_id: int = setting(0, cli=False, min=0)

    def __post_init__(self) -> None:
        super().__post_init__()  # every field against its bounds
        if self.cond_sz and self.n_labels:
            raise VAEConfigError("give either cond_sz (feature vector) or n_labels (label embedding), not both")
        ids = [self.pad_id, self.bos_id, self.eos_id, self.unk_id]
        if len(set(ids)) != 4 or not all(0 <= i < self.vocab_sz for i in ids):
            raise VAEConfigError(f"pad/bos/eos/unk ids {ids} must be distinct ids below vocab_sz={self.vocab_sz}")

    @property
    def cond_dim(self) -> int:
        """Width of the condition vector the encoder and decoder see."""
        return self.cond_sz or (self.label_emb_sz if self.n_labels else 0)

    @property
    def z_dim(self) -> int:
        return self.latent_sz if self.use_latent else 0
