"""`VAEConfig`: every hyperparameter of a sentence VAE, saved as JSON beside the weights.

Torch-free, so the CLI can read the defaults (and generate its flags) without loading torch.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ContextLMError
from ..settings import JSONSettings


class VAEConfigError(ContextLMError, ValueError):
    """A sentence-VAE hyperparameter is out of range."""


@dataclass
class VAEConfig(JSONSettings):
    """Every hyperparameter of a `SentenceVAE`; saved as JSON next to the weights."""
    settings_name, settings_error = "VAE setting", VAEConfigError
    vocab_sz: int
    emb_sz: int = 256
    enc_hidden: int = 256
    dec_hidden: int = 256
    latent_sz: int = 32
    n_layers: int = 1
    word_dropout: float = 0.0   # Bowman: decoder inputs -> <unk> with this probability
    emb_dropout: float = 0.0    # ordinary dropout on embeddings (encoder and decoder)
    out_dropout: float = 0.0    # dropout on decoder outputs before the softmax layer
    z_init: bool = True         # initial decoder state from [z; cond]
    z_concat: bool = True       # z concatenated to every decoder input
    use_latent: bool = True     # False: the LSTM-LM baseline (no encoder, no z)
    cond_sz: int = 0            # size of a float condition vector (audio features)
    n_labels: int = 0           # number of integer condition labels (CVAE)
    label_emb_sz: int = 8
    cond_encoder: bool = True   # give the condition to the encoder as well
    pad_id: int = 1
    bos_id: int = 2
    eos_id: int = 3
    unk_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_sz", "emb_sz", "enc_hidden", "dec_hidden", "n_layers"):
            if int(getattr(self, name)) < 1:
                raise VAEConfigError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.latent_sz < 0 or (self.use_latent and self.latent_sz < 1):
            raise VAEConfigError(f"latent_sz={self.latent_sz}: must be >= 1 (use_latent=False for the LM baseline)")
        for name in ("word_dropout", "emb_dropout", "out_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise VAEConfigError(f"{name}={p}: must be a probability in [0, 1]")
        if self.cond_sz < 0 or self.n_labels < 0:
            raise VAEConfigError("cond_sz and n_labels must be >= 0")
        if self.cond_sz and self.n_labels:
            raise VAEConfigError("give either cond_sz (feature vector) or n_labels (label embedding), not both")
        if self.n_labels and self.label_emb_sz < 1:
            raise VAEConfigError(f"label_emb_sz={self.label_emb_sz}: must be >= 1")
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
