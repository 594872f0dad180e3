"""Tense CVAE on the sentence-VAE stack: batches, forward, a tiny model that memorises the
fixture verbs, convert / sample-tenses (API and CLI), schedules, model folders and errors."""
import json
from pathlib import Path

import pytest
import torch
from fastai.callback.core import Callback

from contextlm.vae.callbacks import kl_beta
from contextlm.cli import main
from contextlm.errors import ContextLMError, ModelFolderError
from contextlm.vae.model import SentenceVAE
from contextlm.tense.metrics import gaussian_score
from contextlm.tense.data import TENSES, TensePair, read_test_pairs, read_verb_lines
from contextlm.tense.model import (MODEL_KIND, TrainSettings, load_tense_learner,
                                   tense_dataloaders, tense_learner, train_tense_cvae, training_pairs)

FIXTURES = Path(__file__).parent / "fixtures"
VERBS, PAIRS = FIXTURES / "verbs.txt", FIXTURES / "verbs_pairs.txt"
TINY_MODEL = dict(emb_sz=16, enc_hidden=64, dec_hidden=64, latent_sz=8, label_emb_sz=4)
# Memorise 10 verbs: no scheduled sampling, a light KL weight; ~4 s on one thread.
TINY = TrainSettings(epochs=30, lr=1e-2, bs=32, kl_schedule="linear", beta_max=0.1, tf_end=1.0, model=TINY_MODEL)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny LSTMs run fastest on one thread (and do not fight other jobs for the cores)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def lines():
    return read_verb_lines(VERBS)


@pytest.fixture(scope="module")
def pairs():
    return read_test_pairs(PAIRS)


@pytest.fixture(scope="module")
def trained(one_thread, lines, pairs, tmp_path_factory):
    learn = train_tense_cvae(lines, pairs, TINY, progress=False)
    folder = learn.save_model(tmp_path_factory.mktemp("model") / "cvae",
                              extra={"train": TINY.to_dict(), "train_file": str(VERBS)})
    return learn, folder


# -- data into batches ----------------------------------------------------------------------

def test_training_pairs_same_and_all(lines):
    same, every = training_pairs(lines, "same"), training_pairs(lines, "all")
    assert len(same) == 4 * len(lines) and all(p.src == p.tgt and p.src_tense == p.tgt_tense for p in same)
    assert len(every) == 16 * len(lines)
    assert TensePair("ran", "running", 3, 2) in every
    with pytest.raises(ContextLMError, match="pairing='both'"):
        training_pairs(lines, "both")


def test_pair_batches_carry_source_and_target(lines, pairs):
    dls = tense_dataloaders(lines, pairs, pairing="all", bs=8, seed=0)
    assert dls.vocab.itos[4:] == sorted(set("".join(w for line in lines for w in line)))
    src, src_len, src_t, tgt, tgt_t, targets = dls.valid.one_batch()
    assert dls.train.n_inp == 5 and len(dls.train.dataset) == 160
    # validation batches follow length order; decode them back to the fixture pairs
    got = {(dls.vocab.decode(s), int(st), dls.vocab.decode(t), int(tt)) for s, st, t, tt in zip(src, src_t, tgt, tgt_t)}
    assert got == {(p.src, p.src_tense, p.tgt, p.tgt_tense) for p in pairs}
    assert (src[:, 0] == dls.vocab.bos_id).all() and torch.equal(targets, tgt[:, 1:])
    assert src_len.tolist() == [len(dls.vocab.decode(s)) + 2 for s in src]
    assert dls.max_len == max(len(w) for line in lines for w in line) + 4


def test_dataloaders_reject_words_outside_the_alphabet(lines):
    with pytest.raises(ContextLMError, match=r"word 'plaï' has characters outside the alphabet \('ï'\); "
                                             r"this model knows 'acdegijklmnoprstuwy'"):
        tense_dataloaders(lines, [TensePair("plaï", "plaïs", 0, 1)])
    with pytest.raises(ContextLMError, match="no validation pairs"):
        tense_dataloaders(lines, [])


def test_forward_decodes_the_target_word(lines, pairs):
    torch.manual_seed(0)
    dls = tense_dataloaders(lines, pairs, bs=8)
    model = tense_learner(dls, TINY_MODEL).model
    assert type(model) is SentenceVAE and model.config.n_labels == len(TENSES) and model.config.latent_sz == 8
    src, src_len, src_t, tgt, tgt_t, targets = dls.valid.one_batch()
    model.eval()
    logits, mu, logvar, _, _ = model(src, src_len, src_t, tgt, tgt_t)
    assert logits.shape == (*targets.shape, len(dls.vocab)) and mu.shape == (len(src), 8)
    # without a target word it is the sentence VAE's own forward (z is sampled: same seed, same draw)
    torch.manual_seed(1)
    own = model(src, src_len, src_t)[0]
    torch.manual_seed(1)
    assert torch.equal(own, SentenceVAE.forward(model, src, src_len, src_t)[0])
    # scheduled sampling path (teacher forcing < 1) in training mode gives the same shapes
    model.train()
    model.teacher_forcing = 0.3
    assert model(src, src_len, src_t, tgt, tgt_t)[0].shape == logits.shape


# -- a tiny trained model ----------------------------------------------------------------------

def test_tiny_model_memorises_conversions(trained, lines, pairs):
    learn, _ = trained
    assert learn.convert_pairs(pairs) == [p.tgt for p in pairs]
    assert learn.convert(["walk", "Carry"], "simple present", "VBD") == ["walked", "carried"]
    assert learn.convert("swimming", "pg", "p") == ["swam"]
    scores = learn.scores(pairs, lines)
    assert scores["bleu4"] == pytest.approx(1.0) and scores["test_acc"] == 1.0
    tuples = learn.sample_tenses(100, seed=0)                     # scores() decodes the same seeded z
    assert scores["gaussian"] == gaussian_score(tuples, lines)
    assert scores["gaussian_distinct"] == len({t for t in tuples if t in set(map(tuple, lines))})


def test_scores_are_recorded_every_epoch(trained, pairs, lines):
    learn, _ = trained
    hist = learn.history()
    assert len(hist) == TINY.epochs
    assert {"train_loss", "valid_loss", "recon", "kl", "bleu4", "gaussian"} <= set(hist.columns)
    assert hist["bleu4"].iloc[-1] == pytest.approx(learn.bleu4(pairs))  # the last epoch's figures are the model's
    assert hist["bleu4"].iloc[0] < 1.0 <= hist["bleu4"].iloc[-1] + 1e-9  # learnt during training
    assert hist["gaussian"].iloc[-1] == pytest.approx(learn.gaussian_score(lines, 100, seed=0))


def test_sample_tenses_is_seeded_and_gives_four_forms(trained):
    learn, _ = trained
    a = learn.sample_tenses(5, seed=3)
    assert len(a) == 5 and all(len(t) == 4 for t in a)
    assert a == learn.sample_tenses(5, seed=3)
    rng = torch.get_rng_state()
    learn.sample_tenses(5, seed=4)
    assert torch.equal(rng, torch.get_rng_state())  # a seed never touches the global RNG
    with pytest.raises(ContextLMError, match="n=0"):
        learn.sample_tenses(0)


def test_conversion_errors_are_one_line(trained):
    learn, _ = trained
    with pytest.raises(ContextLMError, match="unknown tense 'future'"):
        learn.convert(["walk"], "sp", "future")
    with pytest.raises(ContextLMError, match=r"word 'walk3' has characters outside the alphabet \('3'\)"):
        learn.convert(["walk3"], "sp", "p")
    with pytest.raises(ContextLMError, match="empty word"):
        learn.convert([""], "sp", "p")


def test_kl_annealing_and_teacher_forcing_schedules_drive_training(one_thread, lines, pairs):
    seen = []

    class Spy(Callback):
        def before_batch(self):  # runs after KLAnnealing / TeacherForcing (order -5) set this batch's values
            if self.training:
                seen.append((self.learn.pct_train, self.learn.kl_weight, self.learn.model.teacher_forcing))

    s = TrainSettings(epochs=2, bs=32, kl_schedule="cyclical", n_cycles=2, kl_ratio=0.5, beta_max=0.5,
                      tf_start=1.0, tf_end=0.4, model=TINY_MODEL)
    learn = train_tense_cvae(lines[:4], pairs[:1], s, progress=False, cbs=Spy())
    betas = learn.vae_history.df["beta"].tolist()
    assert len(betas) == len(seen) == 2 * 2  # 64 items, bs 32, 2 epochs
    for (pct, beta, tf), recorded in zip(seen, betas):
        assert beta == recorded == pytest.approx(kl_beta(pct, "cyclical", 2, 0.5, 0.5))
        assert tf == pytest.approx(1.0 - 0.6 * pct)
    assert learn.model.teacher_forcing == 1.0  # reset after fit


# -- model folders ------------------------------------------------------------------------------

def test_save_load_round_trip(trained, pairs):
    learn, folder = trained
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["kind"] == MODEL_KIND and cfg["vocab"]["tokenizer"] == "char"
    assert cfg["condition"]["names"] == list(TENSES) and cfg["train"]["epochs"] == TINY.epochs
    loaded = load_tense_learner(folder)
    assert loaded.convert_pairs(pairs) == learn.convert_pairs(pairs)
    words = [p.src for p in pairs]
    conds = [p.src_tense for p in pairs]
    assert torch.allclose(loaded.encode(words, conds), learn.encode(words, conds))


def test_bad_model_folders(trained, tmp_path):
    _, folder = trained
    with pytest.raises(ModelFolderError, match="no such model folder"):
        load_tense_learner(tmp_path / "nope")
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "config.json").write_text((folder / "config.json").read_text())
    with pytest.raises(ModelFolderError, match="model.pth is missing"):
        load_tense_learner(partial)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"kind": "sentence-vae"}))
    with pytest.raises(ModelFolderError, match="holds a 'sentence-vae' model, expected 'tense-cvae'"):
        load_tense_learner(other)


# -- command line --------------------------------------------------------------------------------

def test_cli_convert(trained, capsys):
    _, folder = trained
    assert main(["convert", "walk", "stops", "--from", "sp", "--to", "pg", "--model", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "walk (simple present) -> walking (present progressive)"
    assert out[1].startswith("stops (simple present) -> ")
    assert main(["convert", "wrote", "--from", "past", "--to", "tp", "--model", str(folder), "--beam", "3"]) == 0
    assert capsys.readouterr().out.strip() == "wrote (simple past) -> writes (third person)"


@pytest.mark.parametrize("argv,message", [
    (["convert", "walk", "--from", "sp", "--to", "future"], "unknown tense 'future'; use one of sp, tp, pg, p"),
    (["convert", "wälk", "--from", "sp", "--to", "p"], "characters outside the alphabet ('ä')"),
])
def test_cli_errors_are_one_line(trained, capsys, argv, message):
    _, folder = trained
    assert main(argv + ["--model", str(folder)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("contextlm: error: ")


def test_cli_missing_model(tmp_path, capsys):
    assert main(["sample-tenses", "--model", str(tmp_path / "none")]) == 2
    assert "no such model folder" in capsys.readouterr().err


def test_cli_sample_tenses(trained, capsys):
    _, folder = trained
    assert main(["sample-tenses", "-n", "4", "--seed", "0", "--model", str(folder)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["sp", "tp", "pg", "p", "in", "training", "data"]
    assert len(out) == 1 + 4 + 1 and out[-1].startswith("Gaussian score ")
    rows = [line.split() for line in out[1:5]]
    known = set(read_verb_lines(VERBS))
    assert [r[-1] for r in rows] == ["yes" if tuple(r[:4]) in known else "no" for r in rows]


def test_cli_train_writes_model_and_history(one_thread, tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert main(["train", "cvae-tense", "--train", str(VERBS), "--test", str(PAIRS), "--out", str(out_dir),
                 "--epochs", "2", "--dec-hidden", "32", "--enc-hidden", "32", "--latent-sz", "4", "--emb-sz", "8", "--kl-schedule", "linear",
                 "--gaussian-n", "10"]) == 0
    out = capsys.readouterr().out
    assert f"wrote tense CVAE: {out_dir}" in out and "bleu4 " in out and "gaussian " in out
    assert (out_dir / "model.pth").exists() and (out_dir / "history.csv").read_text().count("\n") == 3
    assert load_tense_learner(out_dir).model.config.latent_sz == 4


def test_cli_build_verb_tense(tmp_path, capsys):
    assert main(["data", "build", "verb-tense", "--source", "lemminflect", "--out", str(tmp_path),
                 "--heldout", "0.2", "--keep-in-train", str(VERBS)]) == 0
    out = capsys.readouterr().out
    assert f"wrote held-out verbs (never in training): {tmp_path / 'heldout.txt'}" in out
    held = read_verb_lines(tmp_path / "heldout.txt")
    assert ("walk", "walks", "walking", "walked") not in held and len(held) > 1000


@pytest.mark.parametrize("argv", [["train", "cvae-tense"], ["convert"], ["sample-tenses"], ["data", "build"]])
def test_help_ends_with_examples(argv, capsys):
    with pytest.raises(SystemExit):
        main(argv + ["--help"])
    text = capsys.readouterr().out
    assert "examples:\n  contextlm " in text and text.rstrip().splitlines()[-1].strip().startswith("contextlm ")
