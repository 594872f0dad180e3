"""CNN VAE and Hybrid VAE (Semeniuta et al. 2017, "A Hybrid Convolutional Variational
Autoencoder for Text Generation"): the convolutional members of the VAE family. They
replace the encoder and the decoder of `SentenceVAE`; the latent, the prior, KL, the
condition and the generation API are the base class's.

    tokens padded to L (seq_len rounded up to a multiple of 2**conv_layers) -> embedding
      -> conv_layers x [Conv1d(kernel_size, stride 2), BatchNorm, ReLU], channels doubling
         up to conv_channels (256: 64, 128, 256)
      -> feature map [B, conv_channels, P]          (P = L / 2**conv_layers)
      -> flattened -> (mu, logvar) [B, latent_sz]    (global latent)
         or per position -> (mu, logvar) [B, P, latent_sz]      (latent_map)
    z (+ condition) -> Linear + ReLU -> [B, conv_channels, P]   (global latent)
         or the sampled map itself [B, latent_sz + cond, P]     (latent_map)
      -> conv_layers x [ConvTranspose1d(kernel_size, stride 2), BatchNorm, ReLU], channels
         halving back (256: 128, 64, 64)
      -> deconvolution features [B, L, features]; position t predicts target t
    ConvVAE:   features -> `out` -> the logits of every position at once (not autoregressive)
    HybridVAE: [previous token; features at t; condition] -> LSTM/GRU -> `out` -> logits,
               plus features -> `aux_out`: auxiliary logits, loss weight `alpha`

Layer choices follow the authors' code (ssemeniuta/textvae, `lm_vae.py`): stride-2
convolutions instead of pooling, batch norm and ReLU after every (de)convolution, the
flattened last feature map to (mu, logvar) and a Linear + ReLU from z back to that map.
Flattening rather than pooling keeps where in the sentence each feature was found, which
a fixed-length deconvolution must rebuild position by position. The channel pyramid is
the paper's too (128/256/512 for characters): a layer's cost is length x channels², so
halving the channels wherever the length doubles keeps every layer about as cheap as the
narrowest and makes the decoder many times faster than an LSTM over the same positions
(BENCHMARKS.md, VAE zoo). Tokens enter through `emb` (so pretrained vectors apply) rather
than one-hot. Nothing is word-specific: a vocabulary of
characters works the same. `z_init`/`z_concat` do not apply: z reaches the decoder only
through the deconvolution.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .config import VAEConfig, VAEConfigError, conv_map_length
from .model import RNNS, SentenceVAE


def conv_block(c_in: int, c_out: int, kernel_size: int, transposed: bool = False) -> nn.Sequential:
    """A stride-2 (de)convolution, batch norm and ReLU that halves (doubles) an even length
    exactly, for any kernel width."""
    pad = (kernel_size - 1) // 2
    conv = (nn.ConvTranspose1d(c_in, c_out, kernel_size, stride=2, padding=pad,
                               output_padding=2 + 2 * pad - kernel_size)
            if transposed else nn.Conv1d(c_in, c_out, kernel_size, stride=2, padding=pad))
    return nn.Sequential(conv, nn.BatchNorm1d(c_out), nn.ReLU())


class ConvVAE(SentenceVAE):
    """CNN VAE: strided convolution encoder, transposed-convolution decoder over a fixed length."""
    autoregressive = False  # every position's logits come from z at once (decoding.generate)

    @property
    def map_len(self) -> int:
        """P: positions of the encoder's last feature map (and of a latent map)."""
        return conv_map_length(self.config.seq_len, self.config.conv_layers)

    @property
    def length(self) -> int:
        """L: the fixed sentence length the convolutions run over."""
        return self.map_len * 2 ** self.config.conv_layers

    # -- encoder ------------------------------------------------------------------------------
    def pyramid(self) -> list[int]:
        """Output channels of the encoder's layers: doubling up to `conv_channels`."""
        c = self.config
        return [max(1, c.conv_channels >> (c.conv_layers - 1 - i)) for i in range(c.conv_layers)]

    @property
    def features(self) -> int:
        """Width of the deconvolution's output per position (the pyramid's narrowest)."""
        return self.pyramid()[0]

    def build_encoder(self) -> int:
        c = self.config
        widths = [c.emb_sz] + self.pyramid()
        self.encoder = nn.Sequential(*[conv_block(a, b, c.kernel_size) for a, b in zip(widths, widths[1:])])
        return c.conv_channels if c.latent_map else c.conv_channels * self.map_len

    def encoder_features(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The last feature map per position `[B, P, C]` (latent_map), or flattened `[B, 1, C * P]`."""
        longest = int(lengths.max())
        if longest > self.config.seq_len:
            raise VAEConfigError(f"a sentence of {longest} tokens (with <bos>/<eos>) is longer than this "
                                 f"model's seq_len={self.config.seq_len}")
        tokens = F.pad(tokens[:, :longest], (0, self.length - longest), value=self.config.pad_id)
        feats = self.encoder(self.emb_drop(self.emb(tokens)).transpose(1, 2))
        return feats.transpose(1, 2) if self.config.latent_map else feats.flatten(1).unsqueeze(1)

    def position_mask(self, lengths: Tensor) -> Tensor:
        """Every position counts: a map position sees a window of the fixed-length input
        (padding included), and sampling from the prior fills all of them."""
        return torch.ones(len(lengths), self.config.positions, dtype=torch.bool, device=lengths.device)

    # -- decoder ------------------------------------------------------------------------------
    def build_decoder(self) -> None:
        self.build_deconv()
        self.out_drop = nn.Dropout(self.config.out_dropout)
        self.out = nn.Linear(self.features, self.config.vocab_sz)

    def build_deconv(self) -> None:
        """The mirror of the encoder, from z (global: a Linear + ReLU up to the map) or from
        the sampled latent map directly."""
        c = self.config
        if c.latent_map:
            self.from_z, first = None, c.latent_sz + c.cond_dim
        else:
            self.from_z, first = nn.Sequential(nn.Linear(c.z_dim + c.cond_dim, c.conv_channels * self.map_len),
                                               nn.ReLU()), c.conv_channels
        widths = [first] + self.pyramid()[-2::-1] + [self.features]  # the encoder's mirror
        self.deconv = nn.Sequential(*[conv_block(a, b, c.kernel_size, transposed=True)
                                      for a, b in zip(widths, widths[1:])])

    def deconv_features(self, z: Tensor, c: Tensor) -> Tensor:
        """`[B, L, features]` from flat codes `[B, z_dim]` and the condition `[B, cond_dim]`."""
        B, P = z.shape[0], self.map_len
        if self.from_z is None:
            x = torch.cat([z.view(B, P, -1), c.unsqueeze(1).expand(-1, P, -1)], -1).transpose(1, 2)
        else:
            x = self.from_z(torch.cat([z, c], -1)).view(B, -1, P)
        return self.deconv(x).transpose(1, 2)

    def crop(self, x: Tensor, T: int) -> Tensor:
        """The first `T` positions of a fixed-length `[B, L, ...]` output."""
        if T > self.length:
            raise VAEConfigError(f"{T} target positions, but this model decodes a fixed {self.length} "
                                 f"(seq_len={self.config.seq_len})")
        return x[:, :T]

    def decode_train(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None
                     ) -> tuple[Tensor, Tensor | None]:
        """`(logits [B, T, V], None)`: the deconvolution never reads tokens, so teacher forcing,
        scheduled sampling and word dropout change nothing here."""
        z, c = self.context(z, cond, tokens_in.shape[0])
        feats = self.crop(self.deconv_features(z, c), tokens_in.shape[1])
        return self.out(self.out_drop(feats)), None

    def parallel_logits(self, z: Tensor, c: Tensor, max_len: int) -> Tensor:
        """Generation logits `[B, min(max_len, L), V]`, positions independent given z;
        <bos> and <pad> are never generated."""
        logits = self.out(self.deconv_features(z, c)[:, :max_len]).float()
        logits[..., [self.config.bos_id, self.config.pad_id]] = float("-inf")
        return logits


class HybridVAE(ConvVAE):
    """Hybrid VAE: the CNN VAE's deconvolution under a recurrent language model. z reaches
    the LSTM/GRU only through the deconvolution features (no initial state from z), and the
    auxiliary loss on the features' own logits (alpha) keeps them informative, which is how
    Semeniuta et al. keep the KL term from collapsing."""
    autoregressive = True

    def build_decoder(self) -> None:
        c = self.config
        self.build_deconv()
        self.aux_out = nn.Linear(self.features, c.vocab_sz)
        self.init_state = None  # the decoder starts from zeros (SentenceVAE.initial_state)
        self.decoder = RNNS[c.cell](c.emb_sz + self.features + c.cond_dim, c.dec_hidden, c.n_layers,
                                    batch_first=True)
        self.out_drop = nn.Dropout(c.out_dropout)
        self.out = nn.Linear(c.dec_hidden, c.vocab_sz)

    def decoder_memory(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        """Computed once per code: the deconvolution features `[B, L, C]` and the condition."""
        return self.deconv_features(z, c), c

    def _decoder_input(self, tokens_in: Tensor, memory: Any, start: int) -> Tensor:
        """[previous token; features at steps start..start+T-1 (the last one beyond L); condition]."""
        feats, c = memory
        x = self.emb_drop(self.emb(tokens_in))
        T = x.shape[1]
        idx = torch.arange(start, start + T, device=x.device).clamp(max=feats.shape[1] - 1)
        return torch.cat([x, feats[:, idx], c.unsqueeze(1).expand(-1, T, -1)], dim=-1)

    def decode_train(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None
                     ) -> tuple[Tensor, Tensor | None]:
        """`(recurrent logits [B, T, V], auxiliary deconvolution logits [B, T, V])`; word
        dropout and scheduled sampling act on the recurrent decoder as in the base class."""
        z, c = self.context(z, cond, tokens_in.shape[0])
        memory = self.decoder_memory(z, c)
        aux = self.aux_out(self.out_drop(self.crop(memory[0], tokens_in.shape[1])))
        return self.decode_memory(tokens_in, memory), aux
