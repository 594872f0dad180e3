"""Ladder VAE (Sønderby et al. 2016) for sentences: L stochastic layers z_1 (bottom) .. z_L (top).

    tokens -> the base's recurrent encoder -> bottom-up d_1 .. d_L -> (mu_hat_i, var_hat_i)
    top-down: z_L ~ q(z_L|x) = N(mu_hat_L, var_hat_L);  p(z_i|z_{i+1}) = N(mu_p_i, var_p_i)
              q(z_i|.) = the precision-weighted merge of N(mu_hat_i, var_hat_i) and p(z_i|z_{i+1})
    [z_1; ..; z_L] (+ condition) -> the base's LSTM/GRU decoder

Bottom-up deterministic path (`ladder_layers`):
- `linear`: d_1 = f_1(summary), d_i = f_i(d_{i-1}), f = Linear(`ladder_hidden`) + leaky ReLU,
  over the encoder's final states (the base's summary, with the condition);
- `conv`: level i is a stride-2 `Conv1d(conv_channels, kernel_size)` + leaky ReLU over level
  i-1, level 0 being the encoder's outputs at every position (with the condition); d_i is the
  mean of level i over the positions inside the sentence (a position j of a level is inside
  when its centre 2j lies inside the level below, so each level keeps ceil(len / 2) of them,
  and padding is zeroed before each convolution). Lower layers see local features, upper
  layers ever coarser ones, as the convolutional ladder of Petersen's DTU study.

The decoder reads the flat code of all layers (`z_dim` = sum(ladder_sizes) wide, the base's
decoder unchanged) instead of z_1 alone as in Sønderby et al.: every layer has a direct path
to the reconstruction, so an upper layer is useful beyond shaping the prior of the one below.

Codes cross the API flat, bottom to top: `[z_1; ..; z_L]`; KL units in the same order (one
per dimension; the top layer's one Monte Carlo unit under a mixture prior); `latent_groups`
names them `z1`..`zL` so the learner records KL and active units per layer.

Collapse: with KL annealing alone, every layer collapses on PTB, as the flat RNN VAE does
(3 epochs, 8k sentences, sizes 16/8/4: no active unit anywhere). `free_bits` (per KL unit,
so per dimension of every layer) keeps units active in every layer (all 28 at 0.1 nats,
linear and conv); Sønderby et al. use warm-up of beta and batch norm instead.
"""
from __future__ import annotations

from itertools import accumulate

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pad_packed_sequence

from .model import Posterior, SentenceVAE
from .objectives import gaussian_log_density
from .priors import build_prior

Gaussian = tuple[Tensor, Tensor]  # (mu, logvar)


def merge(mu_hat: Tensor, logvar_hat: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Gaussian:
    """Precision-weighted merge of the bottom-up and top-down Gaussians (Sønderby et al. 2016,
    Sec. 2.2): var_q = 1 / (1/var_hat + 1/var_p), mu_q = (mu_hat/var_hat + mu_p/var_p) var_q,
    computed as mu_q = w mu_hat + (1 - w) mu_p with w = var_p / (var_hat + var_p), in log space."""
    w = torch.sigmoid(logvar_p - logvar_hat)
    return w * mu_hat + (1 - w) * mu_p, -torch.logaddexp(-logvar_hat, -logvar_p)


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor, logvar_p: Tensor) -> Tensor:
    """KL(N(mu_q, var_q) || N(mu_p, var_p)) per dimension (closed form, diagonal Gaussians)."""
    return 0.5 * (logvar_p - logvar_q + (logvar_q.exp() + (mu_q - mu_p).pow(2)) / logvar_p.exp() - 1.0)


def inside(lengths: Tensor, T: int) -> Tensor:
    """`[B, 1, T]`: which of T positions lie inside sentences of `lengths` (a channels-first mask)."""
    return (torch.arange(T, device=lengths.device) < lengths.unsqueeze(1)).unsqueeze(1)


class LadderVAE(SentenceVAE):
    """Sønderby et al. (2016) Ladder VAE on the base's encoder and decoder; see the module docstring."""

    def build_latent(self, features: int) -> None:
        c, sizes = self.config, self.config.ladder_sizes
        self.act = act = nn.LeakyReLU(0.1)
        if c.ladder_layers == "conv":
            widths, width = [features] + [c.conv_channels] * len(sizes), c.conv_channels
            self.up = nn.ModuleList(nn.Conv1d(a, b, c.kernel_size, stride=2, padding=c.kernel_size // 2)
                                    for a, b in zip(widths, widths[1:]))
        else:
            widths, width = [features] + [c.ladder_hidden] * len(sizes), c.ladder_hidden
            self.up = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.to_gauss = nn.ModuleList(nn.Linear(width, 2 * s) for s in sizes)              # (mu_hat, logvar_hat)
        self.to_prior = nn.ModuleList(nn.Sequential(nn.Linear(above, c.ladder_hidden), act,  # (mu_p, logvar_p)
                                                    nn.Linear(c.ladder_hidden, 2 * s))
                                      for s, above in zip(sizes, sizes[1:]))
        self.prior = build_prior(c, sizes[-1])

    def encoder_features(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The base's final states `[B, 1, width]`, or (conv ladder) the encoder's output at
        every position `[B, T, width]`, zero at padding, T the batch's longest sentence."""
        if self.config.ladder_layers == "linear":
            return super().encoder_features(tokens, lengths)
        return pad_packed_sequence(self.run_encoder(tokens, lengths)[0], batch_first=True)[0]

    def bottom_up(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None) -> list[Gaussian]:
        """(mu_hat_i, logvar_hat_i) of every layer, bottom to top, each `[B, size_i]`."""
        x = self.conditioned_features(tokens, lengths, cond)
        if self.config.ladder_layers == "linear":
            ds = list(accumulate(self.up, lambda d, f: self.act(f(d)), initial=x[:, 0]))[1:]
        else:
            n, ds = lengths.to(x.device), []
            x = x.transpose(1, 2) * inside(n, x.shape[1])
            for conv in self.up:
                x, n = self.act(conv(x)), (n + 1) // 2
                x = x * inside(n, x.shape[-1])
                ds.append(x.sum(-1) / n.unsqueeze(1))
        return [tuple(head(d).chunk(2, -1)) for head, d in zip(self.to_gauss, ds)]

    def top_down(self, ups: list[Gaussian], sample: bool) -> list[tuple[Tensor, Gaussian, Gaussian | None]]:
        """Per layer, bottom to top: (z_i, q(z_i|.), p(z_i|z_{i+1}) or None at the top), drawn
        ancestrally from z_L down with reparameterised samples (`sample`), or with each z_i
        at its posterior mean (deterministic, for `encode`)."""
        layers, z = [], None
        for i in reversed(range(len(ups))):
            p = None if z is None else tuple(self.to_prior[i](z).chunk(2, -1))
            q = ups[i] if p is None else merge(*ups[i], *p)
            z = self.reparameterize(*q) if sample else q[0]
            layers.append((z, q, p))
        return layers[::-1]

    def posterior(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None) -> Gaussian:
        """Every layer's q at the top-down means, side by side: `(mu, logvar)` each `[B, 1, z_dim]`."""
        layers = self.top_down(self.bottom_up(tokens, lengths, cond), sample=False)
        return tuple(torch.cat([q[k] for _, q, _ in layers], -1).unsqueeze(1) for k in (0, 1))

    def infer(self, tokens: Tensor, lengths: Tensor, cond: Tensor | None = None, n_samples: int = 1) -> Posterior:
        """`n_samples` ancestral draws per sentence; KL per layer against p(z_i|z_{i+1}) in
        closed form at the drawn z_{i+1}, the top against the prior (closed form for N(0, I),
        one Monte Carlo unit for the mixture); log_ratio = sum_i log q(z_i|.) - log p(z_i|z_{i+1}).
        `mu`/`logvar` are `posterior`'s (deterministic), so active units never count the
        noise of a sampled z_{i+1}."""
        ups = self.bottom_up(tokens, lengths, cond)
        mean = self.top_down(ups, sample=False)
        drawn = self.top_down([(m.repeat(n_samples, 1), lv.repeat(n_samples, 1)) for m, lv in ups], sample=True)
        kls, log_ratio = [], 0.0
        for z, q, p in drawn:
            if p is None:
                kls.append(self.prior.kl(z, *q))
                log_ratio = log_ratio + gaussian_log_density(z, *q) - self.prior.log_prob(z)
            else:
                kls.append(gaussian_kl(*q, *p))
                log_ratio = log_ratio + gaussian_log_density(z, *q) - gaussian_log_density(z, *p)
        return Posterior(torch.cat([z for z, _, _ in drawn], -1), torch.cat([q[0] for _, q, _ in mean], -1),
                         torch.cat([q[1] for _, q, _ in mean], -1), torch.cat(kls, -1), log_ratio)

    def sample_prior(self, n: int, component: int | None = None) -> Tensor:
        """Ancestral draws z_L ~ p(z_L) (one mixture `component` if given), z_i ~ p(z_i|z_{i+1}), flat `[n, z_dim]`."""
        if not self.config.use_latent:
            return super().sample_prior(n, component)
        zs = [self.prior.sample((n,), self.out.weight.device, component)]
        for td in reversed(self.to_prior):
            zs.insert(0, self.reparameterize(*td(zs[0]).chunk(2, -1)))
        return torch.cat(zs, -1)

    def assign_components(self, z: Tensor) -> Tensor:
        """The mixture component of each flat code's top layer (where the prior lives)."""
        return self.prior.assign(z[:, -self.config.ladder_sizes[-1]:])

    def kl_unit_dims(self) -> Tensor | None:
        """One per dimension, but the top layer's single Monte Carlo unit under a mixture prior."""
        if not self.config.use_latent or self.prior.closed_form:
            return None
        sizes = self.config.ladder_sizes
        return torch.tensor([1.0] * sum(sizes[:-1]) + [float(sizes[-1])])

    def latent_groups(self) -> dict[str, tuple[slice, slice]]:
        """`z1`..`zL`: each layer's KL units and posterior-mean dimensions."""
        if not self.config.use_latent:
            return {}
        sizes = self.config.ladder_sizes
        units = sizes[:-1] + [sizes[-1] if self.prior.closed_form else 1]
        u0, d0 = [0, *accumulate(units)], [0, *accumulate(sizes)]
        return {f"z{i + 1}": (slice(u0[i], u0[i + 1]), slice(d0[i], d0[i + 1])) for i in range(len(sizes))}
