"""The context-conditioned AWD-LSTM.

Where the context enters (a map; each switch is an arch-config key saved with the model):

    context rows (bs, seq_len, n_features + n_labels): scaled numeric features, then label ids
      -> ContextEncoder.forward: [features ; label embeddings]
             context_dropout   training: a row's whole context -> the learned null context
             (null=mask)       sampling: the null rows of classifier-free guidance
             context_proj > 0  -> tanh(Linear(., context_proj))
      = c, the context vector every entry point reads:
    context_input (default)  [embedding ; c] into the first LSTM     ContextAWD_LSTM.forward, "ENTERS HERE"
    context_init             c into every LSTM layer at xxbos         ContextAWD_LSTM.forward, "document start"
    context_bias             logits += Linear(c) (no bias)            ContextDecoder.forward

fastai's AWD-LSTM reads `embedding -> dropouts -> LSTM stack`. The context is concatenated
*after* embedding and input dropout, so it is never dropped by them. Everything else
(weight-dropped LSTMs, hidden-state carrying, tied decoder, fastai's RNN callbacks) is
fastai's own. With no context it *is* fastai's AWD-LSTM (same parameters, initialisation
and outputs); with features and the default switches it is that plus a wider first LSTM,
exactly as before these switches existed, so old model folders load unchanged.

**context_init, in the stream layout.** fastai never starts a document from a fresh state:
documents are laid end to end in `bs` streams, windows cut them anywhere, and the state is
carried from the previous document. So "the initial state of a document" is the carried
state at its `xxbos` token. Adding `d(c)` to a layer's state `h` just before the `xxbos`
step changes only that step's gate pre-activations, by `W_hh d(c)`; we learn such a term
directly (a linear map of `c`): every layer gets `c` as extra input columns that are zero
except where the input token is `xxbos`. This is exact wherever a document starts (mid-window, or at a window's
first position), costs one LSTM call per layer like fastai's (no state surgery mid-window),
and the gates can also write the context into the cell state or forget the previous document.

**context_dropout** is drawn per batch row per window (the row's whole context, every token
of the window, also where the window crosses into another document), not per document:
cheap, and over many windows each document is dropped about `p` of the time. It is not
scaled by `drop_mult`. A model trained without it still has a null context for guidance:
zeros (features at their training mean under the default standard scaling, labels unknown),
which it never saw in training.
"""
from __future__ import annotations

from typing import Sequence

import torch
from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_lm_config, awd_lstm_lm_split
from fastai.text.models.core import LinearDecoder, SequentialRNN
from fastai.torch_core import Module, to_detach
from torch import nn

from ..data.tokens import BOS_ID

__all__ = ["ContextAWD_LSTM", "ContextDecoder", "ContextEncoder", "ContextLanguageModel", "context_language_model",
           "context_lm_split", "CONTEXT_DEFAULTS", "DEFAULT_LM_CONFIG"]

# Where the context enters and how it is encoded; a folder saved without these keys gets
# these values, which are the model as it was before they existed.
CONTEXT_DEFAULTS = dict(context_input=True, context_init=False, context_bias=False, context_proj=0,
                        context_dropout=0.0, label_sizes=(), label_emb_sz=8)
DEFAULT_LM_CONFIG = {**awd_lstm_lm_config, **CONTEXT_DEFAULTS}  # emb 400, hidden 1152, 3 layers, fastai's dropouts


class ContextEncoder(Module):
    """Context rows `(bs, seq_len, n_features + n_labels)` -> the context vector `c`.

    Label column `i` holds ids `1..label_sizes[i]`; id 0 is "unknown or unset", whose
    embedding is fixed at zero (`padding_idx`), so an unseen label is neutral, not random."""

    def __init__(self, n_features: int, label_sizes: Sequence[int] = (), label_emb_sz: int = 8, proj: int = 0,
                 dropout: float = 0.0):
        if not 0 <= dropout < 1:
            raise ValueError(f"context_dropout={dropout}: must be in [0, 1)")
        self.n_features, self.label_sizes, self.dropout = n_features, list(label_sizes), dropout
        self.labels = nn.ModuleList([nn.Embedding(n + 1, label_emb_sz, padding_idx=0) for n in self.label_sizes])
        n_raw = n_features + len(self.label_sizes) * label_emb_sz
        self.null = nn.Parameter(torch.zeros(n_raw)) if dropout > 0 else None
        self.proj = nn.Sequential(nn.Linear(n_raw, proj), nn.Tanh()) if proj else None
        self.size = self.vector_size(n_features, label_sizes, label_emb_sz, proj)

    @staticmethod
    def vector_size(n_features: int, label_sizes: Sequence[int], label_emb_sz: int, proj: int) -> int:
        """Size of the context vector `c`."""
        return proj or n_features + len(label_sizes) * label_emb_sz

    @property
    def n_columns(self) -> int:
        return self.n_features + len(self.label_sizes)

    def null_rows(self, bs: int, null: torch.Tensor | None, device) -> torch.Tensor | None:
        """Rows whose context is replaced by the null context: those asked for (`null`), and
        in training a random share `dropout` of the rest."""
        if self.training and self.dropout > 0:
            drawn = torch.rand(bs, device=device) < self.dropout
            null = drawn if null is None else null | drawn
        return null

    def forward(self, context: torch.Tensor, null: torch.Tensor | None = None) -> torch.Tensor:
        bs = context.shape[0]
        ids = context[..., self.n_features:].long()
        parts = [context[..., :self.n_features].float()] + [emb(ids[..., i]) for i, emb in enumerate(self.labels)]
        c = torch.cat(parts, -1)
        null = self.null_rows(bs, null, c.device)
        if null is not None:
            blank = self.null if self.null is not None else c.new_zeros(c.shape[-1])
            c = torch.where(null.view(bs, *[1] * (c.ndim - 1)), blank.to(c.dtype), c)
        return self.proj(c) if self.proj is not None else c


class ContextAWD_LSTM(AWD_LSTM):
    """AWD-LSTM encoder whose LSTMs see the context vector `c` (see the module docstring)."""

    def __init__(self, vocab_sz: int, emb_sz: int, n_hid: int, n_layers: int, n_features: int = 0,
                 pad_token: int = 1, hidden_p: float = 0.2, input_p: float = 0.6, embed_p: float = 0.1,
                 weight_p: float = 0.5, bidir: bool = False, label_sizes: Sequence[int] = (), label_emb_sz: int = 8,
                 context_input: bool = True, context_init: bool = False, context_proj: int = 0,
                 context_dropout: float = 0.0):
        self.n_features = n_features
        conditioned = n_features > 0 or len(label_sizes) > 0
        # read by _one_rnn while AWD_LSTM builds the LSTM stack
        self.ctx_sz = ContextEncoder.vector_size(n_features, label_sizes, label_emb_sz, context_proj) * conditioned
        self.context_input, self.context_init = context_input and conditioned, context_init and conditioned
        super().__init__(vocab_sz, emb_sz, n_hid, n_layers, pad_token=pad_token, hidden_p=hidden_p,
                         input_p=input_p, embed_p=embed_p, weight_p=weight_p, bidir=bidir)
        # after fastai's modules, so those draw the same random numbers as in a fastai model
        self.context = (ContextEncoder(n_features, label_sizes, label_emb_sz, context_proj, context_dropout)
                        if conditioned else None)

    def _one_rnn(self, n_in, n_out, bidir, weight_p, l):  # called by AWD_LSTM.__init__ for each layer
        extra = self.ctx_sz * ((self.context_input and l == 0) + self.context_init)
        return super()._one_rnn(n_in + extra, n_out, bidir, weight_p, l)

    def encode_context(self, tokens: torch.Tensor, context: torch.Tensor | None,
                       null: torch.Tensor | None = None) -> torch.Tensor | None:
        """The context vector `(bs, seq_len, ctx_sz)` of raw context rows; None (and the rows
        ignored) when the model is unconditioned."""
        if self.context is None:
            return None
        bs, sl = tokens.shape
        want = (bs, sl, self.context.n_columns)
        if context is None or tuple(context.shape) != want:
            got = None if context is None else tuple(context.shape)
            raise ValueError(f"context must be (bs={bs}, seq_len={sl}, {want[2]}: {self.n_features} features + "
                             f"{len(self.context.label_sizes)} label ids), got {got}")
        return self.context(context, null)

    def forward(self, inp: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """`inp` token ids `(bs, seq_len)`; `c` the context vector from `encode_context`."""
        bs, sl = inp.shape
        if bs != self.bs:
            self._change_hidden(bs)
        output = self.input_dp(self.encoder_dp(inp))
        if self.context_input:
            output = torch.cat([output, c.to(output.dtype)], dim=-1)  # <- THE CONTEXT ENTERS HERE
        if self.context_init:  # document start: c is an input of every layer at xxbos only
            at_start = c.to(output.dtype) * (inp == BOS_ID).unsqueeze(-1).to(output.dtype)
        new_hidden = []
        for l, (rnn, hid_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            if self.context_init:
                output = torch.cat([output, at_start], dim=-1)
            output, new_h = rnn(output, self.hidden[l])
            new_hidden.append(new_h)
            if l != self.n_layers - 1:
                output = hid_dp(output)
        self.hidden = to_detach(new_hidden, cpu=False, gather=False)
        return output


class ContextDecoder(LinearDecoder):
    """fastai's `LinearDecoder`, plus (when `ctx_sz`) a linear map from the context vector
    to the vocabulary added to the logits: the context shifts word frequencies directly.
    The map starts at zero, so training starts from the plain decoder."""

    def __init__(self, n_out: int, n_hid: int, output_p: float = 0.1, tie_encoder: nn.Module | None = None,
                 bias: bool = True, ctx_sz: int = 0):
        super().__init__(n_out, n_hid, output_p, tie_encoder=tie_encoder, bias=bias)
        self.context_bias = nn.Linear(ctx_sz, n_out, bias=False) if ctx_sz else None
        if self.context_bias is not None:
            nn.init.zeros_(self.context_bias.weight)

    def forward(self, input: torch.Tensor, c: torch.Tensor | None = None):
        decoded, raw, dropped = super().forward(input)
        if self.context_bias is not None:
            decoded = decoded + self.context_bias(c.to(decoded.dtype))  # <- context shifts the logits
        return decoded, raw, dropped


class ContextLanguageModel(SequentialRNN):
    """`[ContextAWD_LSTM, ContextDecoder]` taking `(tokens, context)`; outputs
    `(logits, raw, dropped)` as fastai's `RNNCallback` expects. `null` (bool, one per row)
    gives those rows the null context (classifier-free guidance)."""

    def forward(self, tokens: torch.Tensor, context: torch.Tensor | None = None, null: torch.Tensor | None = None):
        c = self[0].encode_context(tokens, context, null)
        return self[1](self[0](tokens, c), c)

    @property
    def n_features(self) -> int:
        return self[0].n_features

    @property
    def label_sizes(self) -> list[int]:
        return list(self[0].context.label_sizes) if self[0].context is not None else []

    @property
    def n_context(self) -> int:
        """Columns of the context rows the model reads: features, then label ids."""
        return self.n_features + len(self.label_sizes)

    @property
    def conditioned(self) -> bool:
        return self[0].context is not None

    @property
    def has_null_context(self) -> bool:
        """Whether the null context was learned (trained with context dropout)."""
        return self.conditioned and self[0].context.null is not None


def context_lm_split(model: ContextLanguageModel):
    """fastai's `awd_lstm_lm_split` with the context encoder in the last group (beside the
    embedding and decoder); without this its parameters would not be trained."""
    groups = awd_lstm_lm_split(model)
    if model[0].context is not None:
        groups[-1] = list(groups[-1]) + list(model[0].context.parameters())
    return groups


def context_language_model(vocab_sz: int, n_features: int, config: dict | None = None,
                           drop_mult: float = 1.0) -> ContextLanguageModel:
    """Build the model like fastai's `get_language_model(AWD_LSTM, ...)` does: every
    `*_p` dropout scaled by `drop_mult`, decoder tied to the embedding by default.
    `config` holds fastai's AWD-LSTM keys and `CONTEXT_DEFAULTS`' keys."""
    config = {**DEFAULT_LM_CONFIG, **(config or {})}
    unknown = set(config) - set(DEFAULT_LM_CONFIG)
    if unknown:
        raise ValueError(f"unknown AWD-LSTM config keys: {sorted(unknown)}")
    for key in ("emb_sz", "n_hid", "n_layers"):
        if not isinstance(config[key], int) or isinstance(config[key], bool) or config[key] < 1:
            raise ValueError(f"{key}={config[key]!r}: must be a whole number >= 1")
    for key in [k for k in config if k.endswith("_p")] + ["context_dropout"]:
        if not 0 <= config[key] * (drop_mult if key.endswith("_p") else 1) <= 1:
            raise ValueError(f"{key}={config[key]!r} (x drop_mult {drop_mult}): must be a probability in [0, 1]")
    if not isinstance(config["context_proj"], int) or config["context_proj"] < 0:
        raise ValueError(f"context_proj={config['context_proj']!r}: must be a whole number >= 0")
    config = {k: v * drop_mult if k.endswith("_p") else v for k, v in config.items()}
    tie_weights, output_p, out_bias = config.pop("tie_weights"), config.pop("output_p"), config.pop("out_bias")
    context_bias = config.pop("context_bias")
    config["label_sizes"] = [int(n) for n in config["label_sizes"]]
    if (n_features or config["label_sizes"]) and not (config["context_input"] or config["context_init"]
                                                      or context_bias):
        raise ValueError("the context enters nowhere: set one of context_input, context_init, context_bias")
    encoder = ContextAWD_LSTM(vocab_sz, n_features=n_features, **config)
    decoder = ContextDecoder(vocab_sz, config["emb_sz"], output_p, tie_encoder=encoder.encoder if tie_weights else None,
                             bias=out_bias, ctx_sz=encoder.ctx_sz if context_bias else 0)
    return ContextLanguageModel(encoder, decoder)
