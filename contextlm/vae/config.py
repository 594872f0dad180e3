"""`VAEConfig`: every hyperparameter of a sentence VAE, saved as JSON beside the weights.

Torch-free, so the CLI can read the defaults (and generate its flags) without loading torch.
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass

from ..errors import ContextLMError
from ..settings import JSONSettings, setting


class VAEConfigError(ContextLMError, ValueError):
    """A sentence-VAE hyperparameter is out of range."""


ARCHS = ("rnn", "cnn", "hybrid", "ladder")
CELLS = ("lstm", "gru")
PRIORS = ("gaussian", "gmm")
LADDER_LAYERS = ("linear", "conv")
MAP_ARCHS = ("rnn", "cnn", "hybrid")  # encoders with a feature map to put a latent on


@dataclass
class VAEConfig(JSONSettings):
    """Every hyperparameter of a `SentenceVAE`; saved as JSON next to the weights."""
    settings_name, settings_error = "VAE setting", VAEConfigError
    vocab_sz: int = setting(MISSING, "vocabulary size", cli=False, min=5)
    arch: str = setting("rnn", "rnn: biLSTM encoder + LSTM decoder (Bowman); cnn: strided convolutions + "
                               "deconvolution decoder; hybrid: cnn + an LSTM decoder on the deconvolution "
                               "(Semeniuta et al.); ladder: --ladder-sizes stochastic layers (Sønderby et al.)",
                        "architecture", choices=ARCHS)
    cell: str = setting("lstm", "recurrent cell of the encoder and decoder", "architecture", choices=CELLS)
    latent_map: bool = setting(False, "one Gaussian per position of the encoder's feature map, KL summed over "
                                      "positions (rnn, cnn, hybrid)", "architecture")
    prior: str = setting("gaussian", "prior p(z): gaussian N(0, I), or gmm (--components learnable Gaussians, "
                                     "KL by Monte Carlo)", "architecture", choices=PRIORS)
    components: int = setting(10, "mixture components of --prior gmm", "architecture", min=1, max=4096)
    ladder_sizes: list[int] = setting(None, "latent sizes of the ladder's stochastic layers, bottom to top, "
                                            "decreasing", "architecture", min=1, max=65536,
                                      default_factory=lambda: [32, 16])
    ladder_hidden: int = setting(256, "width of the ladder's deterministic layers", "architecture", min=1, max=65536)
    ladder_layers: str = setting("linear", "the ladder's bottom-up deterministic layers", "architecture",
                                 choices=LADDER_LAYERS)
    conv_channels: int = setting(256, "channels of the widest convolution layer (cnn, hybrid: each layer nearer the "
                                      "tokens has half, as in Semeniuta et al.; conv ladder: every layer)",
                                 "architecture", min=1, max=65536)
    conv_layers: int = setting(3, "stride-2 convolution layers of the encoder (mirrored by the deconvolution)",
                               "architecture", min=1, max=12)
    kernel_size: int = setting(3, "convolution kernel width", "architecture", min=1, max=63)
    alpha: float = setting(0.2, "weight of the hybrid's auxiliary reconstruction loss (deconvolution branch)",
                           "architecture", min=0, max=100)
    seq_len: int = setting(0, "fixed sentence length of convolutional models and feature-map latents, in "
                              "tokens with <bos>/<eos> (set from the data's max_len)", cli=False, min=0,
                           max=100_000)
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
        if self.latent_map and self.arch not in MAP_ARCHS:
            raise VAEConfigError(f"latent_map works with arch {', '.join(MAP_ARCHS)}, not {self.arch}")
        if (self.arch in ("cnn", "hybrid") or self.latent_map) and self.use_latent and self.seq_len < 3:
            raise VAEConfigError(f"arch={self.arch}{' with latent_map' if self.latent_map else ''} needs seq_len "
                                 f">= 3 (the fixed sentence length; vae_learner sets it from the data)")
        if self.arch == "ladder" and any(a <= b for a, b in zip(self.ladder_sizes, self.ladder_sizes[1:])):
            raise VAEConfigError(f"ladder_sizes={self.ladder_sizes}: must decrease from bottom to top")
        if self.arch in ("cnn", "hybrid"):
            if not self.use_latent:
                raise VAEConfigError(f"arch={self.arch} needs a latent; the LM baseline (use_latent=False) is arch=rnn")
            if 2 ** self.conv_layers >= self.seq_len:  # batch norm needs 2 values per channel for 1 sentence
                raise VAEConfigError(f"conv_layers={self.conv_layers} would halve seq_len={self.seq_len} to a "
                                     f"feature map of one position or none (needs seq_len > 2**conv_layers = "
                                     f"{2 ** self.conv_layers}: fewer --conv-layers or a longer --max-len)")
        ids = [self.pad_id, self.bos_id, self.eos_id, self.unk_id]
        if len(set(ids)) != 4 or not all(0 <= i < self.vocab_sz for i in ids):
            raise VAEConfigError(f"pad/bos/eos/unk ids {ids} must be distinct ids below vocab_sz={self.vocab_sz}")

    @property
    def cond_dim(self) -> int:
        """Width of the condition vector the encoder and decoder see."""
        return self.cond_sz or (self.label_emb_sz if self.n_labels else 0)

    @classmethod
    def check_model(cls, overrides: dict, seq_len: int) -> dict:
        """`overrides` (the `model` of a training recipe) if a network with them could be
        built for sentences of `seq_len` tokens: every rule that does not need the data,
        checked before any data is read."""
        checked = cls.check_overrides(overrides)
        cls(**{"vocab_sz": 10**6, "seq_len": seq_len, **checked})
        return checked

    @property
    def positions(self) -> int:
        """Latent positions: the feature map's length with `latent_map`, else 1."""
        if not self.latent_map:
            return 1
        return self.seq_len if self.arch == "rnn" else conv_map_length(self.seq_len, self.conv_layers)

    @property
    def z_dim(self) -> int:
        """Size of the flat latent code the public API passes around (0 for the LM baseline):
        positions x latent_sz, or the sum of the ladder's layers."""
        if not self.use_latent:
            return 0
        if self.arch == "ladder":
            return sum(self.ladder_sizes)
        return self.positions * self.latent_sz


def conv_map_length(seq_len: int, conv_layers: int) -> int:
    """Length of the encoder's feature map after `conv_layers` stride-2 convolutions over the
    sentence padded to a multiple of 2**conv_layers."""
    step = 2 ** conv_layers
    return -(-seq_len // step)
