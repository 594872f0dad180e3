"""The sentence-VAE recipe, once: sentence table -> DataLoaders -> `VAELearner` with KL
annealing (and scheduled teacher forcing) -> `fit_one_cycle` -> a model folder written
atomically with its history, metrics and pictures. `contextlm train vae`, `bench/vae_ptb.py`
and the notebooks call these functions.

    s = SentenceVAESettings(features=["energy"], sentences=True, model=dict(latent_sz=16))
    table = sentence_table(s, data="data/synthetic_reviews.csv")
    learn = train_vae(table, s)
    save_vae_run(learn, "runs/vae")      # model + settings.json, history.csv, metrics.json, PNGs
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import ContextLMError
from ..training import fit_one_cycle
from .settings import SentenceVAESettings


def sentence_table(s: SentenceVAESettings, data: str | Path | None = None, ptb: str | Path | None = None):
    """The table `text, split, [features], [label]` of a corpus file (`data`) or a PTB folder."""
    if (data is None) == (ptb is None):
        raise ContextLMError("give exactly one of --data FILE or --ptb DIR")
    if ptb is not None:
        from .data import read_ptb
        if s.features or s.label_col:
            raise ContextLMError("PTB has no feature or label columns; drop --features/--label-col")
        return read_ptb(ptb)
    from ..data.corpus import corpus_from_df
    from ..data.io import read_table
    raw = read_table(data, encoding=s.encoding, text_col=s.text_col)
    split_col = s.split_col or ("split" if "split" in raw.columns else None)
    keep = [s.label_col] if s.label_col else []
    corpus = corpus_from_df(raw, str(data), s.text_col, s.features, split_col=split_col, drop_missing=s.drop_missing,
                            valid_pct=s.valid_pct, test_pct=s.test_pct, seed=s.seed, group_col=s.group_col,
                            verbose=True, keep_cols=keep)
    if s.sentences:
        corpus = corpus.sentences()
    df = corpus.df
    if s.label_col:  # every sentence keeps its document's label
        df = df.drop(columns=[s.label_col]).assign(label=df[s.label_col].astype(str).to_numpy())
    return df


def vae_callbacks(s, use_latent: bool = True) -> list:
    """Gradient clipping, KL annealing (VAEs only) and, when `tf_end` < `tf_start` or < 1,
    scheduled teacher forcing: the callbacks every VAE recipe trains with."""
    from fastai.callback.training import GradientClip
    from .callbacks import KLAnnealing, TeacherForcing
    cbs = [GradientClip(s.grad_clip)] if getattr(s, "grad_clip", 0) else []
    if use_latent:
        cbs.append(KLAnnealing(**s.kl_annealing))
    if s.tf_start < 1 or s.tf_end < 1:
        cbs.append(TeacherForcing(s.tf_start, s.tf_end, s.tf_ratio))
    return cbs


def train_vae(table, s: SentenceVAESettings, tokenizer: str | None = None, cbs=None, progress: bool = True,
              checkpoint=None):
    """A `VAELearner` trained on `table` as `s` says (seeded: same settings, same model);
    `checkpoint`: a `Checkpoints` plan (checkpoints every epoch; resume)."""
    from fastai.torch_core import set_seed
    from fastcore.basics import listify
    from .data import sentence_dataloaders
    from .learner import vae_learner
    tokenizer = tokenizer or s.tokenizer or "fastai"
    set_seed(s.seed)
    dls = sentence_dataloaders(table, tokenizer=tokenizer, feature_cols=s.features,
                               label_col="label" if s.label_col else None, scaling=s.scaling, max_len=s.max_len,
                               min_freq=s.min_freq, max_vocab=s.max_vocab, bs=s.bs, epoch_size=s.epoch_size,
                               seed=s.seed)
    use_latent = s.model.get("use_latent", True)
    learn = vae_learner(dls, s.model, free_bits=s.free_bits, iw_samples=s.iw_samples,
                        cbs=vae_callbacks(s, use_latent) + listify(cbs))
    learn.train_settings = s
    use_vectors(learn, s, progress)
    fit_one_cycle(learn, s.epochs, s.lr, progress, checkpoint=checkpoint)
    return learn


def use_vectors(learn, s, progress: bool = True) -> None:
    """`s.vectors` into the token embedding `learn.model.emb` (frozen with `s.freeze_vectors`),
    before fitting; the token share counts each training item's first token sequence (the
    sentence; the tense CVAE's source word)."""
    if not s.vectors:
        return
    from ..vectors import apply_vectors, id_counts
    counts = id_counts((item[0] for item in learn.dls.train.dataset), len(learn.vocab))
    apply_vectors(learn, learn.model.emb, s.vectors, learn.vocab.itos, s.freeze_vectors, counts, progress)


def epoch_metrics(learn) -> list[dict[str, float]]:
    """The Recorder's values per epoch, by metric name."""
    names = learn.recorder.metric_names[:-1]
    return [dict(zip(names, [i, *map(float, v)])) for i, v in enumerate(learn.recorder.values)]


def latent_colours(learn, frame, means) -> tuple[str, list]:
    """What the latent plot colours by: the mixture component of each mean (gmm prior), else
    the first feature, else sentence length."""
    if learn.model.config.use_latent and learn.model.config.prior == "gmm":
        return "mixture component", learn.model.assign_components(means.to(learn.device)).tolist()
    if learn.condition.kind == "features":
        feature = learn.condition.names[0]
        return feature, frame[feature].tolist()
    return "words per sentence", [len(str(t).split()) for t in frame["text"]]


def save_vae_run(learn, out: str | Path, overwrite: bool = False, extra: dict[str, Any] | None = None) -> Path:
    """Write the model folder atomically: weights + config.json, settings.json (reusable with
    `--config`), history.csv (per batch recon/KL/beta), metrics.json (per epoch),
    training_curves.png and, for a VAE, latent.png (valid means coloured by mixture component,
    first feature or length: `latent_colours`)."""
    from ..data.io import write_table
    from ..modelio import model_folder_writer, write_model_files
    from .plots import plot_latent, plot_vae_history
    s = getattr(learn, "train_settings", None)
    per_epoch = epoch_metrics(learn)
    training = {"settings": s.to_dict() if s else None, "final_valid": per_epoch[-1] if per_epoch else None,
                "kl_annealing": s.kl_annealing if s and learn.model.config.use_latent else None,
                "vectors": getattr(learn, "vectors_report", None)}
    with model_folder_writer(out, overwrite=overwrite) as tmp:
        write_model_files(tmp, learn.model_kind, learn.model, learn.model_config({"training": training, **(extra or {})}))
        if s is not None:
            (tmp / "settings.json").write_text(json.dumps(s.to_dict(), indent=2), encoding="utf-8")
        hist = learn.vae_history.df
        write_table(hist, tmp / "history.csv")
        (tmp / "metrics.json").write_text(json.dumps(per_epoch, indent=2), encoding="utf-8")
        if len(hist):
            plot_vae_history(hist, tmp / "training_curves.png")
        frames = vars(learn.dls).get("frames", {})
        if learn.model.config.use_latent and "valid" in frames and len(frames["valid"]) > 1:
            valid = frames["valid"].head(2000)
            means = learn.encode(valid["text"].tolist(), cond=learn.frame_condition(valid))
            feature, values = latent_colours(learn, valid, means)
            plot_latent(means.numpy(), values, tmp / "latent.png", feature=feature)
    return Path(out)
