"""Priors p(z) of the VAE family: the standard Gaussian and a mixture of Gaussians.

Both work on latents shaped `[..., d]` (one Gaussian per position of a feature map is just
more leading dimensions) and answer the same four questions:

    prior.log_prob(z)                  # log p(z) per vector, [...]
    prior.kl(z, mu, logvar)            # KL(q || p) per unit: closed form per dimension for
                                       # N(0, I) ([..., d]); a one-sample Monte Carlo estimate
                                       # log q(z|x) - log p(z) per vector for the mixture ([..., 1])
    prior.sample(shape, component=k)   # z ~ p(z) (or one mixture component), [*shape, d]
    prior.assign(z)                    # the most responsible component of each z (mixture)

The mixture (Dilokthanakul et al. 2016; the "next step" of Petersen's DTU study) has K
learnable means and log-variances and learnable weights; its KL to q has no closed form,
so it is estimated with the same reparameterised z the decoder reads (unbiased, gradients
flow to encoder and prior).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import VAEConfig, VAEConfigError
from .objectives import gaussian_log_density, kl_divergence


class StandardNormal(nn.Module):
    """p(z) = N(0, I)."""
    closed_form = True

    def __init__(self, d: int):
        super().__init__()
        self.d = d

    def log_prob(self, z: Tensor) -> Tensor:
        return gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))

    def kl(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        return kl_divergence(mu, logvar)

    def sample(self, shape: tuple[int, ...], device=None, component: int | None = None) -> Tensor:
        if component is not None:
            raise VAEConfigError("component: this model's prior is N(0, I), not a mixture (--prior gmm)")
        return torch.randn(*shape, self.d, device=device)

    def assign(self, z: Tensor) -> Tensor:
        return torch.zeros(z.shape[:-1], dtype=torch.long, device=z.device)


class MixturePrior(nn.Module):
    """p(z) = sum_k pi_k N(z; m_k, diag(exp(s_k))), K learnable components.

    Means start spread out (unit normal draws) so the components do not collapse onto one
    another at the first step; log-variances start at 0 and weights uniform."""
    closed_form = False

    def __init__(self, d: int, components: int):
        super().__init__()
        if components < 1:
            raise VAEConfigError(f"components={components}: a mixture needs K >= 1")
        self.d, self.k = d, components
        self.means = nn.Parameter(torch.randn(components, d))
        self.logvars = nn.Parameter(torch.zeros(components, d))
        self.logits = nn.Parameter(torch.zeros(components))

    def component_log_probs(self, z: Tensor) -> Tensor:
        """log pi_k + log N(z; m_k, s_k) for every component, `[..., K]`."""
        log_pi = torch.log_softmax(self.logits, -1)
        dens = gaussian_log_density(z.unsqueeze(-2), self.means, self.logvars)
        return log_pi + dens

    def log_prob(self, z: Tensor) -> Tensor:
        return torch.logsumexp(self.component_log_probs(z), -1)

    def kl(self, z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
        return (gaussian_log_density(z, mu, logvar) - self.log_prob(z)).unsqueeze(-1)

    def sample(self, shape: tuple[int, ...], device=None, component: int | None = None) -> Tensor:
        device = device or self.means.device
        n = math.prod(shape)
        if component is None:
            ks = torch.multinomial(torch.softmax(self.logits.detach(), -1), n, replacement=True).to(device)
        else:
            if not 0 <= component < self.k:
                raise VAEConfigError(f"component={component}: this prior has components 0..{self.k - 1}")
            ks = torch.full((n,), component, dtype=torch.long, device=device)
        eps = torch.randn(n, self.d, device=device)
        z = self.means[ks] + eps * torch.exp(0.5 * self.logvars[ks])
        return z.view(*shape, self.d)

    def assign(self, z: Tensor) -> Tensor:
        return self.component_log_probs(z).argmax(-1)


def build_prior(config: VAEConfig, d: int) -> nn.Module:
    """The prior `config.prior` names, over `d`-dimensional latent vectors."""
    if config.prior == "gmm":
        return MixturePrior(d, config.components)
    return StandardNormal(d)
