"""Sentence VAE (Bowman et al. 2016): the recurrent member of the VAE family, and the base
class the others (`conv.py`: CNN and Hybrid VAE, `ladder.py`: Ladder VAE) override.

    tokens -> embedding -> biLSTM encoder -> (mu, logvar) -> z = mu + sigma * eps
    z (+ condition) -> initial decoder state and/or concatenated to every decoder input
    decoder LSTM (teacher forcing, word dropout to <unk>) -> logits over the vocab

`VAEConfig` switches, in this class:
- `cell`: LSTM or GRU cells in the encoder and decoder;
- `latent_map`: one Gaussian per encoder position (a fixed `seq_len` of them) instead of
  one per sentence; the decoder reads position t's z at step t (and only there: its
  initial state comes from the condition alone), KL is summed over the sentence's positions;
- `prior`: N(0, I) or a learnable mixture of Gaussians (`priors.py`);
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
    logits, mu, logvar, kl, aux = model(tokens, lengths, cond=None, dec_cond=None)
        # tokens [B, T] = <bos> w1..wn <eos> <pad>..., lengths [B] count <bos> and <eos>;
        # logits [B, T-1, V] predict tokens[:, 1:]; mu/logvar [B, z_dim] the flat posterior;
        # kl [B, units] KL(q || p) per unit (per latent dimension in closed form, per
        # position or layer by Monte Carlo); aux [B, T-1, V] the Hybrid VAE's auxiliary
        # logits, or an empty [B, 0]; word dropout and teacher forcing
        # (`model.teacher_forcing` < 1: step-by-step, feeding the model's own greedy
        # prediction with probability 1 - ratio) act only in training mode
    mu, logvar = model.encode(tokens, lengths, cond=None)
    post = model.infer(tokens, lengths, cond=None, n_samples=1)    # z, mu, logvar, kl, log_ratio
    z = model.reparameterize(mu, logvar)
    logits = model.decode(z, tokens_in, cond=None)                 # teacher forced, [B, T, V]
    ids = model.generate(z, cond=None, method="greedy"|"sample"|"beam", max_len=30)   # decoding.py
    z = model.sample_prior(n, component=None)                      # a mixture component with gmm

Every latent code crosses this API flat, `[B, z_dim]` (positions x latent_sz for a map,
the ladder's layers side by side), so the learner, metrics and plots never care which
member of the family they hold.

`cond` is a float tensor `[B, cond_sz]`, a long tensor `[B]` of labels, or None. Where the
condition enters: `posterior` (concatenated to the encoder's features), `initial_state`
(with z) and `_decoder_input` (concatenated to every decoder input). The loss and the estimators
are in `objectives.py`, decoding in `decoding.py`, the hyperparameters in `config.py`.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .config import VAEConfig, VAEConfigError
from .objectives import gaussian_log_density
from .priors import build_prior
from . import decoding

RNNS = {"lstm": nn.LSTM, "gru": nn.GRU}


@contextmanager
def onednn(enabled: bool | None) -> Iterator[None]:
    """Run the block with torch's oneDNN (mkldnn) CPU kernels switched on or off, and put
    the previous setting back after (also on an error); `None` leaves torch's setting alone."""
    if enabled is None:
        yield
        return
    previous = torch._C._get_mkldnn_enabled()
    torch._C._set_mkldnn_enabled(enabled)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(previous)


@dataclass
class Posterior:
    """What `infer` draws: `n_samples` codes per sentence (sample-major, `[n*B, z_dim]`),
    the flat posterior `mu`/`logvar` (`[B, z_dim]`), KL per unit at those codes
    (`[n*B, units]`) and log q(z|x) - log p(z) per code (`[n*B]`, for importance weights)."""
    z: Tensor
    mu: Tensor
    logvar: Tensor
    kl: Tensor
    log_ratio: Tensor


class SentenceVAE(nn.Module):
    """Bowman et al. (2016) sequence VAE; see the module docstring for the API."""
    autoregressive = True  # the decoder reads its own previous token (not so the CNN VAE)
    # Speed switches, not hyperparameters (the same weights compute the same function).
    # oneDNN for the decoder steps of generation (`next_logits`; None: torch's setting). Off by
    # default: one oneDNN LSTM step costs twice the native kernel's at batch size 1 (30 tokens
    # in 40 vs 19 ms, emb 300 / hidden 256) and no less at 32. Training and evaluation keep
    # torch's setting: there oneDNN was as fast or faster (bs 1 training steps 0.77x without
    # it, bs 64 evaluation 0.94x); GRU timings do not move with it. Measured by bench/vae_zoo.py --speed.
    onednn_generation: bool | None = False
    # The teacher-forced decoder runs packed (the recurrence and the output layer skip the
    # padding) when more than this share of the positions after the sentences is padding;
    # below it, padding costs less than the pack and the copy of the logits back into [B, T, V].
    pack_padding: float = 0.1

    def __init__(self, config: VAEConfig):
        super().__init__()
        self.config = c = config
        self.teacher_forcing = 1.0  # set by the `TeacherForcing` callback
        self.emb = nn.Embedding(c.vocab_sz, c.emb_sz, padding_idx=c.pad_id)
        self.emb_drop = nn.Dropout(c.emb_dropout)
        self.label_emb = nn.Embedding(c.n_labels, c.label_emb_sz) if c.n_labels else None
        if c.use_latent:
            features = self.build_encoder() + (c.cond_dim if c.cond_encoder else 0)
            self.build_latent(features)
        self.build_decoder()

    # -- the parts a family member replaces ---------------------------------------------------
    def build_encoder(self) -> int:
        """A bidirectional LSTM/GRU; returns the width of its features per position."""
        c = self.config
        self.encoder = RNNS[c.cell](c.emb_sz, c.enc_hidden, c.n_layers, batch_first=True, bidirectional=True)
        return 2 * c.enc_hidden

    def run_encoder(self, tokens: Tensor, lengths: Tensor) -> tuple[Any, Any]:
        """The recurrent encoder over the packed sentences: `(packed outputs, final state)`."""
        packed = pack_padded_sequence(self.emb_drop(self.emb(tokens)), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        return self.encoder(packed)

    def encoder_features(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """`[B, positions, width]`: the last layer's final states, forward and backward (one
        position), or every position's output padded to `seq_len` (`latent_map`)."""
        out, h = self.run_encoder(tokens, lengths)
        if self.config.latent_map:
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=self.config.seq_len)
            return out
        h = h[0] if isinstance(h, tuple) else h
        return torch.cat([h[-2], h[-1]], dim=-1).unsqueeze(1)

    def position_mask(self, lengths: Tensor) -> Tensor:
        """`[B, positions]`: which latent positions belong to the sentence (all but the
        padding of a recurrent feature map)."""
        P = self.config.positions
        if self.config.latent_map:
            return torch.arange(P, device=lengths.device) < lengths.unsqueeze(1)
        return torch.ones(len(lengths), P, dtype=torch.bool, device=lengths.device)

    def build_latent(self, features: int) -> None:
        c = self.config
        self.to_mu = nn.Linear(features, c.latent_sz)
        self.to_logvar = nn.Linear(features, c.latent_sz)
        self.prior = build_prior(c, c.latent_sz)

    def build_decoder(self) -> None:
        """An LSTM/GRU decoder whose initial state comes from [z; condition] (`z_init`) and
        whose inputs carry z and the condition at every step (`z_concat`)."""
        c = self.config
        # what the initial state is made from: [z; condition] (a map's z enters step by step only)
        context = (0 if c.latent_map else self.z_width) + c.cond_dim
        n_states = 2 if c.cell == "lstm" else 1
        self.init_state = (nn.Linear(context, n_states * c.n_layers * c.dec_hidden)
                           if (c.z_init and context) else None)
        dec_in = c.emb_sz + (self.z_width if (c.z_concat or c.latent_map) else 0) + c.cond_dim
        self.decoder = RNNS[c.cell](dec_in, c.dec_hidden, c.n_layers, batch_first=True)
        self.out_drop = nn.Dropout(c.out_dropout)
        self.out = nn.Linear(c.dec_hidden, c.vocab_sz)

    @property
    def z_width(self) -> int:
        """Width of the latent the decoder reads at one step (a map's one position)."""
        c = self.config
        return c.latent_sz if (c.latent_map and c.use_latent) else c.z_dim

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

    def conditioned_features(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None) -> Tensor:
        """`encoder_features` with the condition concatenated at every position (`cond_encoder`)."""
        c = self.cond_vector(cond, tokens.shape[0])
        feats = self.encoder_features(tokens, lengths)
        if self.config.cond_encoder and self.config.cond_dim:
            feats = torch.cat([feats, c.unsqueeze(1).expand(-1, feats.shape[1], -1)], dim=-1)
        return feats

    def posterior(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x) per position, `(mu, logvar)` each `[B, positions, latent_sz]`; padding
        positions of a map are exactly the prior N(0, I) (mu = logvar = 0)."""
        feats = self.conditioned_features(tokens, lengths, cond)
        mask = self.position_mask(lengths).unsqueeze(-1)
        return self.to_mu(feats) * mask, self.to_logvar(feats) * mask

    def encode(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """q(z|x) = N(mu, diag(exp(logvar))) as flat `[B, z_dim]` tensors; empty `[B, 0]`
        tensors for the LM baseline."""
        B = tokens.shape[0]
        if not self.config.use_latent:
            self.cond_vector(cond, B)  # checks the condition even where nothing encodes it
            empty = self.out.weight.new_zeros(B, 0)
            return empty, empty
        mu, logvar = self.posterior(tokens, lengths, cond)
        return mu.flatten(1), logvar.flatten(1)

    def infer(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None, n_samples: int = 1) -> Posterior:
        """Encode once, draw `n_samples` reparameterised codes per sentence and score them
        against the prior (closed-form KL where there is one, Monte Carlo otherwise)."""
        mu, logvar = self.posterior(tokens, lengths, cond)
        mask = self.position_mask(lengths).unsqueeze(-1).repeat(n_samples, 1, 1)
        mu_r, lv_r = mu.repeat(n_samples, 1, 1), logvar.repeat(n_samples, 1, 1)
        z = self.reparameterize(mu_r, lv_r)
        kl = self.prior.kl(z, mu_r, lv_r) * mask
        log_ratio = ((gaussian_log_density(z, mu_r, lv_r) - self.prior.log_prob(z)) * mask.squeeze(-1)).sum(-1)
        return Posterior(z.flatten(1), mu.flatten(1), logvar.flatten(1), kl.flatten(1), log_ratio)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + sigma * eps, differentiable in mu and logvar."""
        return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)

    def sample_prior(self, n: int, component: int | None = None) -> Tensor:
        """z ~ p(z) (from one mixture `component` if given), flat `[n, z_dim]` (`[n, 0]` for
        the LM baseline)."""
        if not self.config.use_latent:
            return torch.zeros(n, 0, device=self.out.weight.device)
        return self.prior.sample((n, self.config.positions), self.out.weight.device, component).flatten(1)

    def assign_components(self, z: Tensor) -> Tensor:
        """The mixture component each flat code (its first position) is most likely under."""
        return self.prior.assign(z.view(len(z), self.config.positions, -1)[:, 0])

    # -- decoder ---------------------------------------------------------------------------
    def context(self, z: Tensor | None, cond: Tensor | None, batch_size: int) -> tuple[Tensor, Tensor]:
        if z is None or not self.config.use_latent:
            z = self.out.weight.new_zeros(batch_size, 0)
        elif z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise VAEConfigError(f"latent codes must be [B, {self.config.z_dim}], got {tuple(z.shape)}")
        return z, self.cond_vector(cond, batch_size)

    def decoder_memory(self, z: Tensor, c: Tensor) -> Any:
        """What every decoder step reads besides its input token (here: z and the condition)."""
        return z, c

    def _step_latents(self, z: Tensor, start: int, T: int) -> Tensor:
        """z for decoder steps start..start+T-1, `[B, T, z_width]` (a map's positions, clamped
        to the last one beyond `seq_len`)."""
        if not self.config.latent_map or not z.shape[-1]:
            return z.unsqueeze(1).expand(-1, T, -1)
        zmap = z.view(len(z), self.config.positions, -1)
        idx = torch.arange(start, start + T, device=z.device).clamp(max=zmap.shape[1] - 1)
        return zmap[:, idx]

    def initial_state(self, memory: Any) -> Any:
        if self.init_state is None:
            return None
        z, c = memory[:2]
        cfg, B = self.config, z.shape[0]
        if cfg.latent_map:
            z = z[:, :0]
        n_states = 2 if cfg.cell == "lstm" else 1
        hc = self.init_state(torch.cat([z, c], dim=-1)).view(B, n_states, cfg.n_layers, cfg.dec_hidden)
        h = torch.tanh(hc[:, 0].transpose(0, 1).contiguous())
        return (h, hc[:, 1].transpose(0, 1).contiguous()) if n_states == 2 else h

    @staticmethod
    def reorder_state(state: Any, idx: Tensor) -> Any:
        """The decoder state of the beams `idx` (batch is dim 1 of an RNN state)."""
        return tuple(s[:, idx] for s in state) if isinstance(state, tuple) else state[:, idx]

    def _decoder_input(self, tokens_in: Tensor, memory: Any, start: int) -> Tensor:
        z, c = memory[:2]
        x = self.emb_drop(self.emb(tokens_in))
        T = x.shape[1]
        extra = [self._step_latents(z, start, T)] if (self.config.z_concat or self.config.latent_map) else []
        extra += [c.unsqueeze(1).expand(-1, T, -1)]
        extra = [e for e in extra if e.shape[-1]]
        return torch.cat([x, *extra], dim=-1) if extra else x

    def _run(self, tokens_in: Tensor, state: Any, memory: Any, start: int = 0) -> tuple[Tensor, Any]:
        out, state = self.decoder(self._decoder_input(tokens_in, memory, start), state)
        return self.out(self.out_drop(out)), state

    def decoder_lengths(self, tokens_in: Tensor) -> Tensor:
        """Positions per row whose output is ever scored: up to the last input that is neither
        <pad> nor <eos> (nothing is predicted after a sentence's <eos>), at least one."""
        c = self.config
        real = (tokens_in != c.pad_id) & (tokens_in != c.eos_id)
        T = tokens_in.shape[1]
        last = T - 1 - real.flip(1).int().argmax(1)
        return torch.where(real.any(1), last + 1, torch.ones_like(last))

    def _run_packed(self, tokens_in: Tensor, state: Any, memory: Any, lengths: Tensor) -> Tensor:
        """Teacher-forced logits `[B, T, V]` of `_run`'s decoder over the packed sentences
        (`lengths` steps per row): the recurrence and the output layer skip the padding, whose
        logits are 0 (the loss ignores them)."""
        B, T = tokens_in.shape
        x = self._decoder_input(tokens_in, memory, 0)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.decoder(packed, state)
        logits = self.out(self.out_drop(out.data))                       # [N, V], packed order
        # where each packed row sits in [B * T]: step t holds the first batch_sizes[t] sorted rows
        # (pad_packed_sequence would do it, but its backward copies all of [B, T, V] per step)
        sizes = out.batch_sizes
        step = torch.repeat_interleave(torch.arange(len(sizes)), sizes)
        rank = torch.arange(len(step)) - torch.repeat_interleave(sizes.cumsum(0) - sizes, sizes)
        flat = (out.sorted_indices[rank.to(x.device)] * T + step.to(x.device))
        full = logits.new_zeros(B * T, logits.shape[-1]).index_put_((flat,), logits)
        return full.view(B, T, -1)

    def next_logits(self, inp: Tensor, state: Any, memory: Any, step: int) -> tuple[Tensor, Any]:
        """One generation step `[B, V]` at position `step`; <bos> and <pad> can never be generated."""
        with onednn(self.onednn_generation):
            logits, state = self._run(inp, state, memory, step)
        logits = logits[:, -1].float()
        logits[:, [self.config.bos_id, self.config.pad_id]] = float("-inf")
        return logits, state

    def decode_train(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None
                     ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced `(logits [B, T, V], auxiliary logits or None)` (scheduled sampling
        when `teacher_forcing` < 1 in training)."""
        z, c = self.context(z, cond, tokens_in.shape[0])
        return self.decode_memory(tokens_in, self.decoder_memory(z, c)), None

    def decode_memory(self, tokens_in: Tensor, memory: Any) -> Tensor:
        """The recurrent decoder's training logits `[B, T, V]` given its `decoder_memory`
        (the Hybrid VAE adds its auxiliary logits from the same memory)."""
        if self.training and self.teacher_forcing < 1.0:
            return self._decode_scheduled(tokens_in, memory)
        lengths = self.decoder_lengths(tokens_in)
        if 1 - float(lengths.sum()) / tokens_in.numel() > self.pack_padding:
            return self._run_packed(tokens_in, self.initial_state(memory), memory, lengths)
        return self._run(tokens_in, self.initial_state(memory), memory)[0]

    def decode(self, z: Tensor | None, tokens_in: Tensor, cond: Tensor | None = None) -> Tensor:
        """Teacher-forced logits `[B, T, V]` for decoder inputs `tokens_in` (starting with <bos>)."""
        return self.decode_train(z, tokens_in, cond)[0]

    def _decode_scheduled(self, tokens_in: Tensor, memory: Any) -> Tensor:
        """Step by step: each next input is the gold token with probability `teacher_forcing`,
        else the model's own greedy prediction (scheduled sampling, Bengio et al. 2015)."""
        B, T = tokens_in.shape
        state, inp, steps = self.initial_state(memory), tokens_in[:, :1], []
        for t in range(T):
            logits, state = self._run(inp, state, memory, t)
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
                dec_cond: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """`(logits [B, T-1, V], mu, logvar, kl [B, units], aux)`; z is always sampled, so the
        ELBO stays a bound.

        By default the decoder reconstructs `tokens` under `cond`; a CVAE that converts
        (encode "walk" + simple present, decode "walked" + past) passes `tgt_tokens` and
        `dec_cond`, and the logits are over `tgt_tokens[:, 1:]`."""
        B = tokens.shape[0]
        if self.config.use_latent:
            post = self.infer(tokens, lengths, cond)
            z, mu, logvar, kl = post.z, post.mu, post.logvar, post.kl
        else:
            mu, logvar = self.encode(tokens, lengths, cond)
            z, kl = None, mu
        dec_cond = cond if dec_cond is None else dec_cond
        tokens_in = self.word_dropout((tokens if tgt_tokens is None else tgt_tokens)[:, :-1])
        logits, aux = self.decode_train(z, tokens_in, dec_cond)
        return logits, mu, logvar, kl, (logits.new_zeros(B, 0) if aux is None else aux)

    # -- family ------------------------------------------------------------------------------
    def kl_unit_dims(self) -> Tensor | None:
        """Latent dimensions behind each KL unit (free bits are per dimension): 1 each in closed
        form, a position's `latent_sz` for a Monte Carlo (mixture) unit; None: 1 each."""
        c = self.config
        if not c.use_latent or self.prior.closed_form:
            return None
        return torch.full((c.positions,), float(c.latent_sz))

    # -- family ------------------------------------------------------------------------------
    def latent_groups(self) -> dict[str, tuple[slice, slice]]:
        """Named parts of the latent code reported on their own, as `(kl units, mu dims)`
        slices (the Ladder VAE's layers); empty for a single latent."""
        return {}

    # -- generation ------------------------------------------------------------------------
    def generate(self, z: Tensor | None, cond: Tensor | None = None, method: str = "greedy",
                 **kwargs: Any) -> list[list[int]]:
        """Id lists decoded from `z` (see `contextlm.vae.decoding.generate`)."""
        return decoding.generate(self, z, cond, method, **kwargs)


def build_vae(config: VAEConfig) -> SentenceVAE:
    """The family member `config.arch` names."""
    if config.arch in ("cnn", "hybrid"):
        from .conv import ConvVAE, HybridVAE
        return (ConvVAE if config.arch == "cnn" else HybridVAE)(config)
    if config.arch == "ladder":
        from .ladder import LadderVAE
        return LadderVAE(config)
    return SentenceVAE(config)
