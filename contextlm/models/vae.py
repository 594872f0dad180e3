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

Low-level API (tensors in, tensors out; ids come from `contextlm.data.sentences.SentenceVocab`,
whose `pad_id/bos_id/eos_id/unk_id` go into `VAEConfig`):

    model = SentenceVAE(VAEConfig(vocab_sz=len(vocab), **vocab.special_ids(), latent_sz=16))
    logits, mu, logvar = model(tokens, lengths, cond=None, dec_cond=None)
        # tokens [B, T] = <bos> w1..wn <eos> <pad>..., lengths [B] count <bos> and <eos>;
        # logits [B, T-1, V] predict tokens[:, 1:]; word dropout and teacher forcing
        # (`model.teacher_forcing` < 1: step-by-step, feeding the model's own greedy
        # prediction with probability 1 - ratio) act only in training mode
    mu, logvar = model.encode(tokens, lengths, cond=None)
    z = model.reparameterize(mu, logvar)
    logits = model.decode(z, tokens_in, cond=None)                 # teacher forced, [B, T, V]
    ids = model.generate(z, cond=None, method="greedy"|"sample"|"beam",
                         max_len=30, temperature=1.0, top_k=0, beam_size=5)
        # list of B id lists without <bos>/<eos>; batched over the carried LSTM state
    z = model.sample_prior(n)

`cond` is a float tensor `[B, cond_sz]`, a long tensor `[B]` of labels, or None.

Loss and evaluation math lives here too (pure functions of tensors): `kl_divergence`,
`sequence_nll`, `VAELoss` (recon + beta * KL with free bits), `iw_nll`,
`mutual_information`, `active_units`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..configs import JSONSettings
from ..errors import ContextLMError

GENERATION_METHODS = ("greedy", "sample", "beam")


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
    def _context(self, z: Tensor | None, cond: Tensor | None, batch_size: int) -> tuple[Tensor, Tensor]:
        if z is None or not self.config.use_latent:
            z = self.out.weight.new_zeros(batch_size, 0)
        return z, self.cond_vector(cond, batch_size)

    def _initial_state(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor] | None:
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

    def _next_logits(self, inp: Tensor, state, z: Tensor, c: Tensor) -> tuple[Tensor, Any]:
        """One generation step `[B, V]`; <bos> and <pad> can never be generated."""
        logits, state = self._run(inp, state, z, c)
        logits = logits[:, -1].float()
        logits[:, [self.config.bos_id, self.config.pad_id]] = float("-inf")
        return logits, state

    def decode(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None) -> Tensor:
        """Teacher-forced logits `[B, T, V]` for decoder inputs `tokens_in` (starting with <bos>)."""
        z, c = self._context(z, cond, tokens_in.shape[0])
        logits, _ = self._run(tokens_in, self._initial_state(z, c), z, c)
        return logits

    def _decode_scheduled(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None) -> Tensor:
        """Step by step: each next input is the gold token with probability `teacher_forcing`,
        else the model's own greedy prediction (scheduled sampling, Bengio et al. 2015)."""
        B, T = tokens_in.shape
        z, c = self._context(z, cond, B)
        state, inp, steps = self._initial_state(z, c), tokens_in[:, :1], []
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
    @torch.no_grad()
    def generate(self, z: Tensor | None, cond: Tensor | None = None, method: str = "greedy", max_len: int = 30,
                 temperature: float = 1.0, top_k: int = 0, beam_size: int = 5,
                 length_penalty: float = 1.0, n: int | None = None) -> list[list[int]]:
        """Decode one sentence per row of `z` (or `n` sentences for the LM baseline with z=None).

        Returns id lists without <bos>/<eos>. Batched: one LSTM step per position for
        the whole batch (and all beams), carrying the hidden state."""
        if method not in GENERATION_METHODS:
            raise VAEConfigError(f"method={method!r}: expected one of {', '.join(GENERATION_METHODS)}")
        if max_len < 1:
            raise VAEConfigError(f"max_len={max_len}: must be >= 1")
        if method == "sample" and temperature <= 0:
            raise VAEConfigError(f"temperature={temperature}: must be > 0 (use method='greedy' for argmax)")
        B = z.shape[0] if z is not None else (n if n is not None else (len(cond) if cond is not None else 1))
        z, c = self._context(z, cond, B)
        if method == "beam":
            return self._beam_search(z, c, max_len, beam_size, length_penalty)
        cfg = self.config
        state = self._initial_state(z, c)
        inp = torch.full((B, 1), cfg.bos_id, dtype=torch.long, device=self.out.weight.device)
        done = torch.zeros(B, dtype=torch.bool, device=inp.device)
        out = []
        for _ in range(max_len):
            logits, state = self._next_logits(inp, state, z, c)
            if method == "greedy":
                nxt = logits.argmax(-1)
            else:
                logits = logits / temperature
                if top_k:
                    kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(logits, -1), 1).squeeze(1)
            nxt = nxt.masked_fill(done, cfg.pad_id)
            out.append(nxt)
            done |= nxt == cfg.eos_id
            if done.all():
                break
            inp = nxt.unsqueeze(1)
        return [self._strip(row) for row in torch.stack(out, 1).tolist()]

    def _strip(self, ids: list[int]) -> list[int]:
        cfg, res = self.config, []
        for i in ids:
            if i in (cfg.eos_id, cfg.pad_id):
                break
            res.append(i)
        return res

    def _beam_search(self, z: Tensor, c: Tensor, max_len: int, K: int, alpha: float) -> list[list[int]]:
        """Beam search over all B*K beams at once; finished beams only extend with <pad> at no cost.
        Final choice by log p / length**alpha (alpha=0: raw log-probability)."""
        if K < 1:
            raise VAEConfigError(f"beam_size={K}: must be >= 1")
        cfg, B, dev = self.config, z.shape[0], z.device
        V = cfg.vocab_sz
        z, c = z.repeat_interleave(K, 0), c.repeat_interleave(K, 0)
        state = self._initial_state(z, c)
        scores = torch.full((B, K), float("-inf"), device=dev)
        scores[:, 0] = 0.0
        inp = torch.full((B * K, 1), cfg.bos_id, dtype=torch.long, device=dev)
        done = torch.zeros(B * K, dtype=torch.bool, device=dev)
        lengths = torch.zeros(B * K, device=dev)
        hist = torch.zeros(B * K, 0, dtype=torch.long, device=dev)
        for _ in range(max_len):
            logits, state = self._next_logits(inp, state, z, c)
            logp = F.log_softmax(logits, -1)
            logp[done] = float("-inf")
            logp[done, cfg.pad_id] = 0.0
            total = (scores.view(-1, 1) + logp).view(B, K * V)
            scores, flat = total.topk(K, dim=-1)
            beam, tok = flat // V, flat % V
            src = (beam + torch.arange(B, device=dev).unsqueeze(1) * K).view(-1)
            tok = tok.view(-1)
            hist = torch.cat([hist[src], tok.unsqueeze(1)], 1)
            lengths = lengths[src] + (~done[src]).float()
            done = done[src] | (tok == cfg.eos_id)
            state = tuple(s[:, src] for s in state)
            inp = tok.unsqueeze(1)
            if done.all():
                break
        final = scores.view(-1) / lengths.clamp(min=1) ** alpha
        best = final.view(B, K).argmax(-1) + torch.arange(B, device=dev) * K
        return [self._strip(row) for row in hist[best].tolist()]


# -- loss and evaluation math --------------------------------------------------------------
def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per dimension, `[B, d]` (closed form)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def sequence_nll(logits: Tensor, targets: Tensor, pad_id: int) -> Tensor:
    """-log p(x|z) per sentence `[B]`: cross-entropy summed over non-pad target tokens."""
    nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1),
                          ignore_index=pad_id, reduction="none")
    return nll.view(targets.shape).sum(1)


class VAELoss:
    """Per-sentence loss: recon NLL + beta * KL, averaged over the batch.

    `free_bits` (Kingma et al. 2016, as used by Li et al. 2019) is a floor per latent
    dimension on the batch-mean KL: dimensions below it cost `free_bits` and get no
    KL gradient, so the encoder can use them without being pushed to the prior.
    `beta` is set by `KLAnnealing`. The unweighted terms of the last call are kept in
    `self.last` for metrics and the training history (computed once per batch)."""

    def __init__(self, pad_id: int, beta: float = 1.0, free_bits: float = 0.0):
        if free_bits < 0:
            raise VAEConfigError(f"free_bits={free_bits}: must be >= 0 (nats per latent dimension)")
        self.pad_id, self.beta, self.free_bits = pad_id, beta, free_bits
        self.last: dict[str, float] = {}

    def __call__(self, pred: tuple[Tensor, Tensor, Tensor], targets: Tensor) -> Tensor:
        logits, mu, logvar = pred
        recon = sequence_nll(logits, targets, self.pad_id)
        kl_dims = kl_divergence(mu, logvar)
        kl = kl_dims.sum(-1)
        kl_mean_dims = kl_dims.mean(0)
        kl_term = kl_mean_dims.clamp(min=self.free_bits).sum() if self.free_bits else kl.mean()
        self.last = dict(recon=float(recon.detach().sum()), kl=float(kl.detach().sum()), n_sent=len(targets),
                         n_tokens=int((targets != self.pad_id).sum()), beta=float(self.beta))
        return recon.mean() + self.beta * kl_term


@torch.no_grad()
def iw_nll(model: SentenceVAE, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None,
           k: int = 50, chunk: int = 10) -> Tensor:
    """Importance-weighted estimate of -log p(x) per sentence (Burda et al. 2016):
    -log mean_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). Never above -ELBO in expectation;
    tighter as k grows. Exact -log p(x) for the LM baseline."""
    if k < 1:
        raise VAEConfigError(f"k={k}: importance samples must be >= 1")
    B = tokens.shape[0]
    mu, logvar = model.encode(tokens, lengths, cond)
    targets, tokens_in = tokens[:, 1:], tokens[:, :-1]
    if not model.config.use_latent:
        return sequence_nll(model.decode(None, tokens_in, cond), targets, model.config.pad_id)
    log_w = []
    for start in range(0, k, chunk):
        m = min(chunk, k - start)
        mu_r, lv_r = mu.repeat(m, 1), logvar.repeat(m, 1)          # [m*B, d], sample-major
        z = model.reparameterize(mu_r, lv_r)
        cond_r = None if cond is None else cond.repeat(m, *([1] * (cond.dim() - 1)))
        logits = model.decode(z, tokens_in.repeat(m, 1), cond_r)
        log_px_z = -sequence_nll(logits, targets.repeat(m, 1), model.config.pad_id)
        log_pz = gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
        log_qz = gaussian_log_density(z, mu_r, lv_r)
        log_w.append((log_px_z + log_pz - log_qz).view(m, B))
    log_w = torch.cat(log_w, 0)
    return -(torch.logsumexp(log_w, 0) - math.log(k))


def mutual_information(mu: Tensor, logvar: Tensor) -> float:
    """I(x; z) under q, estimated as in He et al. 2019 (`calc_mi`): the negative entropy
    of q(z|x) minus E log q(z), with the aggregate posterior q(z) approximated by the
    mixture of this batch's posteriors. Bounded by log(batch size)."""
    B, d = mu.shape
    if d == 0 or B < 2:
        return 0.0
    neg_entropy = (-0.5 * d * math.log(2 * math.pi) - 0.5 * (1 + logvar).sum(-1)).mean()
    z = SentenceVAE.reparameterize(mu, logvar)                          # [B, d]
    log_dens = gaussian_log_density(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))  # [B(z), B(x)]
    log_qz = torch.logsumexp(log_dens, dim=1) - math.log(B)
    return float(neg_entropy - log_qz.mean())


def active_units(mus: Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies across sentences: Cov_x(E_q[z_u]) > threshold
    (Burda et al. 2016)."""
    if mus.shape[1] == 0 or mus.shape[0] < 2:
        return 0
    return int((mus.float().var(0) > threshold).sum())
