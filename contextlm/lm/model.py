"""The feature-conditioned AWD-LSTM.

fastai's AWD-LSTM reads `embedding -> dropouts -> LSTM stack`. This one reads
`[embedding ; features] -> LSTM stack`: the audio features of the token's document are
concatenated to every word embedding *after* embedding and input dropout (so the
features are never dropped), which makes the first LSTM's input `emb_sz + n_features`
wide. Everything else (weight-dropped LSTMs, hidden-state carrying, tied decoder,
fastai's RNN callbacks and splitter) is fastai's own. With `n_features=0` it *is*
fastai's AWD-LSTM: same parameters, same initialisation, same outputs.
"""
from __future__ import annotations

import torch
from fastai.text.models.awdlstm import AWD_LSTM, awd_lstm_lm_config
from fastai.text.models.core import LinearDecoder, SequentialRNN
from fastai.torch_core import to_detach

__all__ = ["ContextAWD_LSTM", "ContextLanguageModel", "context_language_model", "DEFAULT_LM_CONFIG"]

DEFAULT_LM_CONFIG = dict(awd_lstm_lm_config)  # emb 400, hidden 1152, 3 layers, fastai's dropouts


class ContextAWD_LSTM(AWD_LSTM):
    """AWD-LSTM encoder whose first LSTM sees `[embedding ; features]` at every step."""

    def __init__(self, vocab_sz: int, emb_sz: int, n_hid: int, n_layers: int, n_features: int = 0,
                 pad_token: int = 1, hidden_p: float = 0.2, input_p: float = 0.6, embed_p: float = 0.1,
                 weight_p: float = 0.5, bidir: bool = False):
        self.n_features = n_features  # read by _one_rnn while AWD_LSTM builds the LSTM stack
        super().__init__(vocab_sz, emb_sz, n_hid, n_layers, pad_token=pad_token, hidden_p=hidden_p,
                         input_p=input_p, embed_p=embed_p, weight_p=weight_p, bidir=bidir)

    def _one_rnn(self, n_in, n_out, bidir, weight_p, l):
        return super()._one_rnn(n_in + (self.n_features if l == 0 else 0), n_out, bidir, weight_p, l)

    def forward(self, inp: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        bs, sl = inp.shape
        if bs != self.bs:
            self._change_hidden(bs)
        output = self.input_dp(self.encoder_dp(inp))
        if self.n_features:
            if features is None or features.shape != (bs, sl, self.n_features):
                got = None if features is None else tuple(features.shape)
                raise ValueError(f"features must be (bs={bs}, seq_len={sl}, n_features={self.n_features}), got {got}")
            output = torch.cat([output, features.to(output.dtype)], dim=-1)  # <- the features enter here
        new_hidden = []
        for l, (rnn, hid_dp) in enumerate(zip(self.rnns, self.hidden_dps)):
            output, new_h = rnn(output, self.hidden[l])
            new_hidden.append(new_h)
            if l != self.n_layers - 1:
                output = hid_dp(output)
        self.hidden = to_detach(new_hidden, cpu=False, gather=False)
        return output


class ContextLanguageModel(SequentialRNN):
    """`[ContextAWD_LSTM, LinearDecoder]` taking `(tokens, features)`; outputs
    `(logits, raw, dropped)` as fastai's `RNNCallback` expects."""

    def forward(self, tokens: torch.Tensor, features: torch.Tensor | None = None):
        return self[1](self[0](tokens, features))

    @property
    def n_features(self) -> int:
        return self[0].n_features


def context_language_model(vocab_sz: int, n_features: int, config: dict | None = None,
                           drop_mult: float = 1.0) -> ContextLanguageModel:
    """Build the model like fastai's `get_language_model(AWD_LSTM, ...)` does: every
    `*_p` dropout scaled by `drop_mult`, decoder tied to the embedding by default."""
    config = {**DEFAULT_LM_CONFIG, **(config or {})}
    unknown = set(config) - set(DEFAULT_LM_CONFIG)
    if unknown:
        raise ValueError(f"unknown AWD-LSTM config keys: {sorted(unknown)}")
    config = {k: v * drop_mult if k.endswith("_p") else v for k, v in config.items()}
    tie_weights, output_p, out_bias = config.pop("tie_weights"), config.pop("output_p"), config.pop("out_bias")
    encoder = ContextAWD_LSTM(vocab_sz, n_features=n_features, **config)
    decoder = LinearDecoder(vocab_sz, config["emb_sz"], output_p,
                            tie_encoder=encoder.encoder if tie_weights else None, bias=out_bias)
    return ContextLanguageModel(encoder, decoder)
