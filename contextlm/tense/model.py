"""Character-level CVAE for tense conversion, on the sentence-VAE stack.

Nothing here is a second VAE: the network is `SentenceVAE` (biLSTM encoder, z, LSTM
decoder) with a character vocabulary and a 4-label condition (`n_labels=4`: the tense
embedding goes to the encoder summary and to the decoder's initial state and inputs);
the learner is `VAELearner`; KL annealing and the teacher-forcing schedule are its
callbacks. This module adds what tenses need:

* Conversion pairs: `SentenceVAE.forward(src, len, src_tense, tgt, tgt_tense)` encodes
  "walk" with sp and decodes "walked" with p. With `pairing="same"` every item is the
  lab's autoencoding (word, tense) -> same word; with `pairing="all"` each verb also gives
  its 12 cross-tense pairs, which ties z to the verb rather than to the spelling of one form.
* `TensePairDL`: batches `(src, src_len, src_tense, tgt, tgt_tense, targets)`.
* `TenseLearner`: `convert`, `sample_tenses`, the lab's scores, model folders of kind
  "tense-cvae"; `tense_metrics` records BLEU-4 / Gaussian score / accuracy every epoch.

    dls = tense_dataloaders(train_lines, test_pairs, pairing="all")
    learn = tense_learner(dls, cbs=[KLAnnealing("cyclical"), TeacherForcing(1.0, 0.5)])
    learn.fit_one_cycle(30, 3e-3)
    learn.convert(["access"], "sp", "pg")          # ['accessing']
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch
from fastai.data.core import DataLoaders
from fastai.learner import Metric
from fastcore.basics import listify

from ..vae.callbacks import vae_metrics
from ..conditioning import Condition
from ..data.tokens import CHAR_SPECIALS, Vocab
from ..vae.data import SentenceDL, pad_batch
from ..errors import ContextLMError
from ..training import fit_one_cycle, history_frame
from ..vae.learner import VAELearner, new_vae, read_vae_folder
from ..vae.train import use_vectors, vae_callbacks
from .data import TENSES, TensePair, VerbLine, all_pairs, tense_id
from .settings import DEFAULT_CONFIG, TrainSettings
from .metrics import distinct_matches, exact_accuracy, gaussian_score, mean_bleu4

if TYPE_CHECKING:
    import pandas as pd

MODEL_KIND = "tense-cvae"
PAIRINGS = ("same", "all")


def tense_condition() -> Condition:
    """The label condition every tense model uses: ids 0..3 = sp, tp, pg, p."""
    return Condition("labels", list(TENSES))


class TensePairDL(SentenceDL):
    """Items `(src_ids, src_tense, tgt_ids, tgt_tense)` -> batches
    `(src, src_len, src_tense, tgt, tgt_tense, targets = tgt[:, 1:])`; length-bucketed like `SentenceDL`."""

    def __init__(self, dataset=None, **kwargs):
        kwargs["has_cond"] = True
        super().__init__(dataset, **kwargs)
        self.n_inp = 5

    def do_batch(self, b):
        src, src_t, tgt, tgt_t = zip(*b)
        s, s_len = pad_batch(src, self.pad_id)
        t, _ = pad_batch(tgt, self.pad_id)
        return s, s_len, torch.tensor(src_t), t, torch.tensor(tgt_t), t[:, 1:]


def char_vocab(lines: Sequence[VerbLine]) -> Vocab:
    """Character vocabulary of the training verbs (`<pad> <bos> <eos> <unk>` + letters)."""
    return Vocab.build([w for line in lines for w in line], tokenizer="char")


def alphabet(vocab: Vocab) -> str:
    return "".join(ch for ch in vocab.itos if ch not in CHAR_SPECIALS)


def check_words(words: Sequence[str], vocab: Vocab) -> None:
    """One clear line for a word the model cannot spell (instead of silent `<unk>`s)."""
    known = set(alphabet(vocab))
    for w in words:
        if not w:
            raise ContextLMError("empty word: give a verb form such as 'access'")
        bad = sorted(set(w) - known)
        if bad:
            raise ContextLMError(f"word {w!r} has characters outside the alphabet ({''.join(bad)!r}); "
                                 f"this model knows {alphabet(vocab)!r}")


def training_pairs(lines: Sequence[VerbLine], pairing: str = "all") -> list[TensePair]:
    """What the CVAE reconstructs: each form from itself (`same`), or from every form (`all`)."""
    if pairing not in PAIRINGS:
        raise ContextLMError(f"pairing={pairing!r}: expected one of {', '.join(PAIRINGS)}")
    if pairing == "same":
        return [TensePair(line[t], line[t], t, t) for line in lines for t in range(len(TENSES))]
    return all_pairs(lines, include_same=True)


def _items(pairs: Sequence[TensePair], vocab: Vocab) -> list[tuple]:
    check_words([w for p in pairs for w in (p.src, p.tgt)], vocab)
    return [(vocab.sentence_ids(list(p.src)), p.src_tense, vocab.sentence_ids(list(p.tgt)), p.tgt_tense)
            for p in pairs]


def tense_dataloaders(train_lines: Sequence[VerbLine], valid_pairs: Sequence[TensePair], pairing: str = "all",
                      bs: int = 64, vocab: Vocab | None = None, seed: int | None = None,
                      device=None) -> DataLoaders:
    """fastai DataLoaders: training items from `train_lines` (see `training_pairs`), validation on
    `valid_pairs` (the lab's test pairs: encode the input with its tense, decode the target).
    The char vocab comes from the training verbs; `dls.vocab/condition/max_len/train_lines` are set."""
    if not train_lines:
        raise ContextLMError("no training verbs")
    if not valid_pairs:
        raise ContextLMError("no validation pairs (give test pairs or held-out verbs)")
    vocab = vocab or char_vocab(train_lines)
    train_items = _items(training_pairs(train_lines, pairing), vocab)
    valid_items = _items(valid_pairs, vocab)
    loaders = [TensePairDL(items, pad_id=vocab.pad_id, bs=min(bs, len(items)), shuffle=shuffle, drop_last=False)
               for items, shuffle in ((train_items, True), (valid_items, False))]
    if seed is not None:
        for i, dl in enumerate(loaders):
            dl.rng.seed(seed + i)
    dls = DataLoaders(*loaders, device=device)
    dls.vocab, dls.condition = vocab, tense_condition()
    dls.max_len = max(len(w) for line in train_lines for w in line) + 4  # room for longer unseen verbs
    dls.train_lines, dls.valid_pairs = list(train_lines), list(valid_pairs)
    return dls


class TenseLearner(VAELearner):
    """`VAELearner` that converts verbs between tenses and samples 4-tuples of forms."""

    def check_words(self, words: Sequence[str]) -> None:
        check_words(words, self.vocab)

    def convert(self, words: str | Sequence[str], src: str | int, tgt: str | int, method: str = "greedy",
                **gen_kwargs) -> list[str]:
        """Each word, read as tense `src`, written in tense `tgt` (from its posterior mean)."""
        words = [str(w).strip().lower() for w in ([words] if isinstance(words, str) else words)]
        return self.convert_pairs([TensePair(w, "", tense_id(src), tense_id(tgt)) for w in words], method,
                                  **gen_kwargs)

    def convert_pairs(self, pairs: Sequence[TensePair], method: str = "greedy", **gen_kwargs) -> list[str]:
        """Outputs for `pair.src` from `src_tense` to `tgt_tense` (targets are ignored)."""
        if not pairs:
            return []
        self.check_words([p.src for p in pairs])
        return self.reconstruct([p.src for p in pairs], method, cond=[p.src_tense for p in pairs],
                                dec_cond=[p.tgt_tense for p in pairs], **gen_kwargs)

    @torch.no_grad()
    def sample_tenses(self, n: int = 100, seed: int | None = None, method: str = "greedy",
                      **gen_kwargs) -> list[tuple[str, ...]]:
        """`n` codes z ~ N(0, I), each decoded with the four tenses: `(sp, tp, pg, p)` tuples.
        A seed draws z from its own generator and leaves the global RNG alone."""
        if n < 1:
            raise ContextLMError(f"n={n}: must be >= 1")
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.model.config.z_dim, generator=gen)
        forms = [self.decode(z, [t] * n, method, **gen_kwargs) for t in range(len(TENSES))]
        return list(zip(*forms))

    # -- the lab's scores ------------------------------------------------------------------
    def bleu4(self, pairs: Sequence[TensePair]) -> float:
        return mean_bleu4(self.convert_pairs(pairs), [p.tgt for p in pairs])

    def accuracy(self, pairs: Sequence[TensePair]) -> float:
        return exact_accuracy(self.convert_pairs(pairs), [p.tgt for p in pairs])

    def gaussian_score(self, train_lines: Sequence[VerbLine], n: int = 100, seed: int = 0) -> float:
        return gaussian_score(self.sample_tenses(n, seed), train_lines)

    def scores(self, test_pairs: Sequence[TensePair] = (), train_lines: Sequence[VerbLine] = (),
               heldout_lines: Sequence[VerbLine] = (), n: int = 100, seed: int = 0) -> dict[str, float]:
        """The figures the benchmark and `train cvae-tense` report (those whose data is given)."""
        out: dict[str, float] = {}
        if test_pairs:
            out["bleu4"] = self.bleu4(test_pairs)
            out["test_acc"] = self.accuracy(test_pairs)
        if train_lines:
            tuples = self.sample_tenses(n, seed)
            out["gaussian"] = gaussian_score(tuples, train_lines)
            out["gaussian_distinct"] = distinct_matches(tuples, train_lines)
        if heldout_lines:
            pairs = all_pairs(heldout_lines)
            out["heldout_acc"] = self.accuracy(pairs)
            out["heldout_bleu4"] = self.bleu4(pairs)
        return out

    def history(self) -> "pd.DataFrame":
        """The Recorder's per-epoch values (losses, VAE terms, BLEU-4, Gaussian score) as a table."""
        return history_frame(self.recorder)

    model_kind = MODEL_KIND


class TenseScore(Metric):
    """A Recorder metric computed from the model's own decodes once per validation (no
    per-batch work): BLEU-4 on test pairs, Gaussian score, conversion accuracy."""

    def __init__(self, name: str, fn: Callable[[TenseLearner], float]):
        self._name, self.fn, self.learn = name, fn, None

    def reset(self):
        self.learn = None

    def accumulate(self, learn):
        self.learn = learn

    def reduce_across_ranks(self, learn, comm) -> None:
        """Computed from the model, which every rank holds whole: nothing to sum."""
        self.learn = learn

    @property
    def value(self):
        return None if self.learn is None else self.fn(self.learn)

    @property
    def name(self):
        return self._name


def tense_metrics(test_pairs: Sequence[TensePair] = (), train_lines: Sequence[VerbLine] = (),
                  heldout_pairs: Sequence[TensePair] = (), n_gaussian: int = 100, seed: int = 0) -> list[Metric]:
    """`bleu4` (test pairs), `gaussian` (n z from the prior, fixed seed so epochs compare) and
    `heldout_acc` for whichever data is given."""
    mets: list[Metric] = []
    if test_pairs:
        mets.append(TenseScore("bleu4", lambda l: l.bleu4(test_pairs)))
    if train_lines:
        mets.append(TenseScore("gaussian", lambda l: l.gaussian_score(train_lines, n_gaussian, seed)))
    if heldout_pairs:
        mets.append(TenseScore("heldout_acc", lambda l: l.accuracy(heldout_pairs)))
    return mets


def tense_learner(dls: DataLoaders, config: dict[str, Any] | None = None, metrics: Sequence[Metric] | None = None,
                  **kwargs: Any) -> TenseLearner:
    """A `TenseLearner` with a fresh `SentenceVAE` (4 tense labels) sized for `dls`; `config`
    overrides `VAEConfig` fields (latent_sz, enc_hidden, word_dropout, ...); other keywords
    (cbs, path...) go to the `Learner`. Default metrics: the VAE's recon/KL/ELBO
    terms, BLEU-4 on the validation pairs and the Gaussian score against the training verbs."""
    model = new_vae(dls, dict(n_labels=len(TENSES), **DEFAULT_CONFIG), config)
    if metrics is None:
        metrics = vae_metrics()[:3] + tense_metrics(dls.valid_pairs, dls.train_lines)
    return TenseLearner(dls, model, vocab=dls.vocab, condition=tense_condition(), max_len=dls.max_len,
                        metrics=list(metrics), **kwargs)


def load_tense_learner(path: str | Path, dls: DataLoaders | None = None, **kwargs: Any) -> TenseLearner:
    """A `TenseLearner` from a folder written by `TenseLearner.save_model`."""
    model, vocab, _, cfg = read_vae_folder(path, MODEL_KIND)
    learn = TenseLearner(dls if dls is not None else DataLoaders(), model, vocab=vocab, condition=tense_condition(),
                         max_len=cfg.get("max_len"), metrics=[], **kwargs)
    learn.saved_config = cfg
    return learn


def train_tense_cvae(train_lines: Sequence[VerbLine], valid_pairs: Sequence[TensePair],
                     settings: TrainSettings | None = None, heldout_lines: Sequence[VerbLine] = (),
                     progress: bool = True, cbs=None, checkpoint=None) -> TenseLearner:
    """Train the tense CVAE with `fit_one_cycle`, KL annealing and the teacher-forcing schedule;
    the Recorder logs recon/KL/ELBO, BLEU-4 on `valid_pairs` and the Gaussian score every epoch
    (and held-out accuracy when `heldout_lines` are given). Seeded: same settings, same model.
    `checkpoint`: a `Checkpoints` plan (checkpoints every epoch; resume)."""
    from fastai.torch_core import set_seed
    s = settings or TrainSettings()
    set_seed(s.seed, reproducible=True)
    dls = tense_dataloaders(train_lines, valid_pairs, s.pairing, s.bs, seed=s.seed)
    metrics = vae_metrics()[:3] + tense_metrics(valid_pairs, train_lines, all_pairs(heldout_lines))
    callbacks = vae_callbacks(s) + listify(cbs)
    learn = tense_learner(dls, config=s.model, metrics=metrics, cbs=callbacks)
    learn.free_bits = s.free_bits
    learn.train_settings = s
    use_vectors(learn, s, progress)
    fit_one_cycle(learn, s.epochs, s.lr, progress, checkpoint=checkpoint)
    return learn
