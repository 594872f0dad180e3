"""The speed reference of issue 13.8: timbmg/Sentence-VAE's GRU VAE, rebuilt from its README
and the paper it implements (Bowman et al. 2016), not copied.

    tokens -> embedding (shared by encoder and decoder)
    -> unidirectional GRU encoder over the packed sentence -> last hidden state
    -> Linear to mu and to logvar -> z = mu + sigma * eps -> Linear to the decoder's h0
    -> word dropout (inputs -> <unk>) and embedding dropout on the decoder inputs
    -> GRU decoder over the packed sentence (z enters only through h0)
    -> Linear to the vocabulary on the padded outputs -> log-softmax -> summed NLL (pad ignored)

Its defaults: embedding 300, hidden 256, latent 16, one layer, torch Adam. It exists only
so `bench/vae_zoo.py --speed` can time contextlm's recurrent VAE against it on the same
batches; the loss is the summed NLL + beta * closed-form KL, divided by the batch size.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class TimbmgVAE(nn.Module):
    """GRU sentence VAE with timbmg/Sentence-VAE's architecture (see the module docstring)."""

    def __init__(self, vocab_sz: int, pad_id: int, unk_id: int, emb_sz: int = 300, hidden: int = 256,
                 latent: int = 16, word_dropout: float = 0.0, emb_dropout: float = 0.5):
        super().__init__()
        self.pad_id, self.unk_id, self.word_dropout = pad_id, unk_id, word_dropout
        self.emb = nn.Embedding(vocab_sz, emb_sz)
        self.emb_drop = nn.Dropout(emb_dropout)
        self.encoder = nn.GRU(emb_sz, hidden, batch_first=True)
        self.decoder = nn.GRU(emb_sz, hidden, batch_first=True)
        self.to_mu, self.to_logvar = nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.to_hidden = nn.Linear(latent, hidden)
        self.out = nn.Linear(hidden, vocab_sz)

    def forward(self, tokens: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """`(log-probabilities [B, T-1, V], mu, logvar)` for `tokens` = <bos> w.. <eos> <pad>..
        with `lengths` counting <bos> and <eos>; step t predicts tokens[:, t+1]."""
        inp, n = tokens[:, :-1], (lengths - 1).cpu()
        packed = pack_padded_sequence(self.emb(inp), n, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)
        mu, logvar = self.to_mu(h[-1]), self.to_logvar(h[-1])
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        if self.training and self.word_dropout > 0:
            drop = (torch.rand(inp.shape) < self.word_dropout) & (inp != self.pad_id)
            drop[:, 0] = False  # keep <bos>
            inp = inp.masked_fill(drop, self.unk_id)
        packed = pack_padded_sequence(self.emb_drop(self.emb(inp)), n, batch_first=True, enforce_sorted=False)
        out, _ = self.decoder(packed, self.to_hidden(z).unsqueeze(0))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=inp.shape[1])
        return F.log_softmax(self.out(out), -1), mu, logvar


def timbmg_loss(model: TimbmgVAE, tokens: Tensor, lengths: Tensor, beta: float = 1.0) -> Tensor:
    """(summed NLL over non-pad targets + beta * KL) / batch size, as its training script does."""
    logp, mu, logvar = model(tokens, lengths)
    nll = F.nll_loss(logp.reshape(-1, logp.shape[-1]), tokens[:, 1:].reshape(-1), ignore_index=model.pad_id,
                     reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return (nll + beta * kl) / len(tokens)
