"""Sentence VAE (Bowman et al. 2016) and the variants built from the same parts.

    tokens -> embedding -> biLSTM encoder -> (mu, logvar) -> z = mu + sigma * eps
    z (+ condition) -> initial decoder state and/or concatenated to every decoder input
    decoder LSTM (teacher forcing, word dropout to <unk>) -> logits over the vocab

One class covers the whole family, switched by `VAEConfig`:
- `use_latent=False`: no encoder, no z; the decoder alone is the LSTM-LM baseline
  of the same size (mu/logvar come back as empty `[B, 0]` tensors, so KL = 0 and
  every metric below still works);
- `cond_sz > 0`: a float condition vector (scaled audio features) per sentence;
- `n_labels > 0`: an integer label per sentence through `nn.Embedding(n_labels,
  label_emb_sz)` (the tense CVAE);
- the condition goes to the encoder (concatenated to the biLSTM summary, when
  `cond_encoder`) and to the decoder (concatenated to z for the initial state and to
  every decoder input). Encoder and decoder conditions are separate arguments, so a
  CVAE can encode with the source label and decode with the target label.

Low-level API (tensors in, tensors out; ids come from `contextlm.data.tokens.Vocab`,
whose `special_ids()` go into `VAEConfig`):

    model = SentenceVAE(VAEConfig(vocab_sz=len(vocab), **vocab.special_ids(), latent_sz=16))
    logits, mu, logvar = model(tokens, lengths, cond=None, dec_cond=None)
        # tokens [B, T] = <bos> w1..wn <eos> <pad>..., lengths [B] count <bos> and <eos>;
        # logits [B, T-1, V] predict tokens[:, 1:]; word dropout and teacher forcing
        # (`model.teacher_forcing` < 1: step-by-step, feeding the model's own greedy
        # prediction with probability 1 - ratio) act only in training mode
    mu, logvar = model.encode(tokens, lengths, cond=None)
    z = model.reparameterize(mu, logvar)
    logits = model.decode(z, tokens_in, cond=None)                 # teacher forced, [B, T, V]
    ids = model.generate(z, cond=None, method="greedy"|"sample"|"beam", max_len=30)   # decoding.py
    z = model.sample_prior(n)

`cond` is a float tensor `[B, cond_sz]`, a long tensor `[B]` of labels, or None. Where the
condition enters: `encode` (concatenated to the biLSTM summary), `initial_state` (with z)
and `_decoder_input` (concatenated to every decoder input). The loss and the estimators
are in `objectives.py`, decoding in `decoding.py`, the hyperparameters in `config.py`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from .config import VAEConfig, VAEConfigError
from . import decoding


class SentenceVAE(nn.Module):
    """Bowman et al. (2016) sequence VAE; see the module docstring for the API."""

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = c = config
        self.teacher_forcing = 1.0  # set by the `TeacherForcing` callback
        self.emb = nn.Embedding(c.vocab_sz, c.emb_sz, padding_idx=c.pad_id)
        self.emb_drop = nn.Dropout(c.emb_dropout)
        self.label_emb = nn.Embedding(c.n_labels, c.label_emb_sz) if c.n_labels else None
        if c.use_latent:
            self.encoder = nn.LSTM(c.emb_sz, c.enc_hidden, c.n_layers, batch_first=True, bidirectional=True)
            summary = 2 * c.enc_hidden + (c.cond_dim if c.cond_encoder else 0)
            self.to_mu = nn.Linear(summary, c.latent_sz)
            self.to_logvar = nn.Linear(summary, c.latent_sz)
        context = c.z_dim + c.cond_dim  # what the decoder is conditioned on
        self.init_state = nn.Linear(context, 2 * c.n_layers * c.dec_hidden) if (c.z_init and context) else None
        dec_in = c.emb_sz + (c.z_dim if c.z_concat else 0) + c.cond_dim
        self.decoder = nn.LSTM(dec_in, c.dec_hidden, c.n_layers, batch_first=True)
        self.out_drop = nn.Dropout(c.out_dropout)
        self.out = nn.Linear(c.dec_hidden, c.vocab_sz)

    # -- condition and latent ------------------------------------------------------------
    def cond_vector(self, cond: Tensor | None, batch_size: int) -> Tensor:
        """The condition as a float matrix `[B, cond_dim]` (empty when unconditioned)."""
        c = self.config
        if not c.cond_dim:
            if cond is not None:
                raise VAEConfigError("this model has no condition (cond_sz=0, n_labels=0) but a cond was given")
            return self.out.weight.new_zeros(batch_size, 0)
        if cond is None:
            raise VAEConfigError(f"this model is conditioned ({'n_labels' if c.n_labels else 'cond_sz'}"
                                 f"={c.n_labels or c.cond_sz}): pass cond")
        if c.n_labels:
            if cond.dtype.is_floating_point or cond.dim() != 1:
                raise VAEConfigError(f"label condition must be a long tensor [B], got {cond.dtype} {tuple(cond.shape)}")
            if len(cond) and (int(cond.min()) < 0 or int(cond.max()) >= c.n_labels):
                raise VAEConfigError(f"label ids must lie in [0, {c.n_labels}), got {cond.tolist()[:8]}")
            return self.label_emb(cond)
        if cond.dim() != 2 or cond.shape[1] != c.cond_sz:
            raise VAEConfigError(f"feature condition must be [B, {c.cond_sz}], got {tuple(cond.shape)}")
        return cond.float()

    def encode(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x) = N(mu, diag(exp(logvar))); empty `[B, 0]` tensors for the LM baseline."""
        B = tokens.shape[0]
        c = self.cond_vector(cond, B)  # checks the condition even where the encoder ignores it
        if not self.config.use_latent:
            empty = self.out.weight.new_zeros(B, 0)
            return empty, empty
        x = self.emb_drop(self.emb(tokens))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h, _) = self.encoder(packed)
        summary = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, forward and backward
        if self.config.cond_encoder and self.config.cond_dim:
            summary = torch.cat([summary, c], dim=-1)
        return self.to_mu(summary), self.to_logvar(summary)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + sigma * eps, differentiable in mu and logvar."""
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def sample_prior(self, n: int) -> Tensor:
        """z ~ N(0, I), `[n, latent_sz]` (`[n, 0]` for the LM baseline)."""
        return torch.randn(n, self.config.z_dim, device=self.out.weight.device)

    # -- decoder ---------------------------------------------------------------------------
    def context(self, z: Tensor | None, cond: Tensor | None, batch_size: int) -> tuple[Tensor, Tensor]:
        if z is None or not self.config.use_latent:
            z = self.out.weight.new_zeros(batch_size, 0)
        return z, self.cond_vector(cond, batch_size)

    def initial_state(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor] | None:
        if self.init_state is None:
            return None
        cfg, B = self.config, z.shape[0]
        hc = self.init_state(torch.cat([z, c], dim=-1)).view(B, 2, cfg.n_layers, cfg.dec_hidden)
        h, cell = hc[:, 0].transpose(0, 1).contiguous(), hc[:, 1].transpose(0, 1).contiguous()
        return torch.tanh(h), cell

    def _decoder_input(self, tokens_in: Tensor, z: Tensor, c: Tensor) -> Tensor:
        x = self.emb_drop(self.emb(tokens_in))
        extra = [c] if not self.config.z_concat else [z, c]
        extra = [e.unsqueeze(1).expand(-1, x.shape[1], -1) for e in extra if e.shape[-1]]
        return torch.cat([x, *extra], dim=-1) if extra else x

    def _run(self, tokens_in: Tensor, state, z: Tensor, c: Tensor) -> tuple[Tensor, Any]:
        out, state = self.decoder(self._decoder_input(tokens_in, z, c), state)
        return self.out(self.out_drop(out)), state

    def next_logits(self, inp: Tensor, state, z: Tensor, c: Tensor) -> tuple[Tensor, Any]:
        """One generation step `[B, V]`; <bos> and <pad> can never be generated."""
        logits, state = self._run(inp, state, z, c)
        logits = logits[:, -1].float()
        logits[:, [self.config.bos_id, self.config.pad_id]] = float("-inf")
        return logits, state

    def decode(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None) -> Tensor:
        """Teacher-forced logits `[B, T, V]` for decoder inputs `tokens_in` (starting with <bos>)."""
        z, c = self.context(z, cond, tokens_in.shape[0])
        logits, _ = self._run(tokens_in, self.initial_state(z, c), z, c)
        return logits

    def _decode_scheduled(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None) -> Tensor:
        """Step by step: each next input is the gold token with probability `teacher_forcing`,
        else the model's own greedy prediction (scheduled sampling, Bengio et al. 2015)."""
        B, T = tokens_in.shape
        z, c = self.context(z, cond, B)
        state, inp, steps = self.initial_state(z, c), tokens_in[:, :1], []
        for t in range(T):
            logits, state = self._run(inp, state, z, c)
            steps.append(logits)
            if t + 1 < T:
                use_gold = torch.rand(B, 1, device=tokens_in.device) < self.teacher_forcing
                inp = torch.where(use_gold, tokens_in[:, t + 1:t + 2], logits.argmax(-1))
        return torch.cat(steps, dim=1)

    def word_dropout(self, tokens_in: Tensor) -> Tensor:
        """Replace decoder inputs (not <bos>/<eos>/<pad>) by <unk> with probability `word_dropout`."""
        c = self.config
        if not (self.training and c.word_dropout > 0):
            return tokens_in
        keep_special = (tokens_in == c.pad_id) | (tokens_in == c.bos_id) | (tokens_in == c.eos_id)
        drop = (torch.rand(tokens_in.shape, device=tokens_in.device) < c.word_dropout) & ~keep_special
        return tokens_in.masked_fill(drop, c.unk_id)

    def forward(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None, tgt_tokens: Tensor | None = None,
                dec_cond: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """`(logits [B, T-1, V], mu, logvar)`; z is always sampled, so the ELBO stays a bound.

        By default the decoder reconstructs `tokens` under `cond`; a CVAE that converts
        (encode "walk" + simple present, decode "walked" + past) passes `tgt_tokens` and
        `dec_cond`, and the logits are over `tgt_tokens[:, 1:]`."""
        mu, logvar = self.encode(tokens, lengths, cond)
        z = self.reparameterize(mu, logvar)
        dec_cond = cond if dec_cond is None else dec_cond
        tokens_in = self.word_dropout((tokens if tgt_tokens is None else tgt_tokens)[:, :-1])
        if self.training and self.teacher_forcing < 1.0:
            logits = self._decode_scheduled(z, tokens_in, dec_cond)
        else:
            logits = self.decode(z, tokens_in, dec_cond)
        return logits, mu, logvar

    # -- generation ------------------------------------------------------------------------
    def generate(self, z: Tensor | None, cond: Tensor | None = None, method: str = "greedy",
                 **kwargs: Any) -> list[list[int]]:
        """Id lists decoded from `z` (see `contextlm.vae.decoding.generate`)."""
        return decoding.generate(self, z, cond, method, **kwargs)
