"""Pretrained word vectors (`contextlm.vectors`): the reader on tiny GloVe / word2vec / gzip
files, frozen and fine-tuned embeddings of the VAE and the LM through `fit`, the
`--vectors` flags end to end, and model folders that load without the vectors file."""
import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from contextlm.cli import main
from contextlm.errors import ContextLMError
from contextlm.vectors import TIED_FREEZE, VectorsError, apply_vectors, read_vectors

torch.set_num_threads(1)

VOCAB = ["xxunk", "xxpad", "xxbos", "xxeos", "the", "Dog", "Cat", "zebra"]
COUNTS = [7, 0, 3, 0, 5, 1, 2, 2]
# "cat" (line 3) comes before the exact "Cat" (line 4): the exact match wins; "Dog" is found as "dog"
GLOVE = ["the 1 2 3", "dog 4 5 6", "cat 7 8 9", "Cat 1 1 1", "xxunk 9 9 9", "bird 0 0 1e-05"]
SENTS = ["the cat sat on the mat", "a dog ran in the park", "i love this song", "it was my turn",
         "he was silent for a long moment", "where is the book", "music makes me happy", "we danced all night"]


def write(path, lines):
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def word_vectors(words, dim, seed=0):
    """GloVe lines for `words`, and the vectors by word."""
    rng = np.random.default_rng(seed)
    vecs = {w: rng.normal(size=dim).round(4).astype(np.float32) for w in words}
    return [f"{w} {' '.join(map(str, v))}" for w, v in vecs.items()], vecs


def test_coverage_is_exact_with_a_lower_case_fallback(tmp_path):
    matrix, mask, r = read_vectors(write(tmp_path / "v.txt", GLOVE), VOCAB, 3, COUNTS, progress=False)
    assert mask.tolist() == [False] * 4 + [True, True, True, False]   # specials are never looked up
    assert matrix[4:].tolist() == [[1, 2, 3], [4, 5, 6], [1, 1, 1], [0, 0, 0]]
    assert (r.dim, r.vectors, r.vocab_words, r.exact, r.lowercase, r.uncovered) == (3, 6, 4, 2, 1, 1)
    assert r.token_share == pytest.approx(8 / 10)                        # the 5 + Dog 1 + Cat 2 of 10
    assert r.lowercase_examples == ["Dog->dog"] and r.uncovered_examples == ["zebra"]
    assert r.summary() == ("v.txt: 3 of 4 vocabulary words (75.0 %), 80.0 % of training tokens (1 in lower case, "
                           f"e.g. Dog->dog); 3-d, fine-tuned, read in {r.seconds:.1f} s\n"
                           "1 word keeps its random init, e.g. zebra")


def test_word2vec_header_and_gzip_read_the_same(tmp_path):
    plain = read_vectors(write(tmp_path / "g.txt", GLOVE), VOCAB, 3, progress=False)
    w2v = read_vectors(write(tmp_path / "w.txt", ["6 3", *GLOVE]), VOCAB, 3, progress=False)
    gz = tmp_path / "g.txt.gz"
    gz.write_bytes(gzip.compress((tmp_path / "g.txt").read_bytes()))
    zipped = read_vectors(gz, VOCAB, 3, progress=False)
    for other in (w2v, zipped):
        assert np.array_equal(other[0], plain[0]) and np.array_equal(other[1], plain[1])
        assert (other[2].covered, other[2].vectors, other[2].token_share) == (3, 6, None)


@pytest.mark.parametrize("lines, emb_sz, msg", [
    (None, 3, "{p}: no such vectors file"),
    (GLOVE, 4, "{p} has 3-d vectors but emb_sz is 4: pass --emb-sz 3"),
    (["the 1 2 3", "dog 4 5 6", "cat 7 8"], 3, "{p}: line 3: 'cat' has 2 values where the lines before it have 3"),
    (["4 3", "the 1 2 3 4"], None, "{p}: line 2: 'the' has 4 values where the header says 3"),
    (["the 1 2 3", "dog 4 x 6"], 3, "{p}: line 2: 'dog': 'x' is not a number"),
    (["the 1 2 3", "dog 4 nan 6"], 3, "{p}: line 2: 'dog': a value is not finite"),
    ([], 3, "{p}: no vectors in it (empty file)"),
    (["apple 1 2 3", "pear 4 5 6"], 3, "{p}: none of the 4 vocabulary words has a vector (e.g. the, Dog, Cat"),
])
def test_bad_files_are_one_line_errors_naming_file_and_line(tmp_path, lines, emb_sz, msg):
    path = tmp_path / "v.txt" if lines is None else write(tmp_path / "v.txt", lines)
    with pytest.raises(VectorsError) as e:
        read_vectors(path, VOCAB, emb_sz, progress=False)
    assert msg.format(p=path) in str(e.value) and "\n" not in str(e.value)


def test_a_broken_gzip_file_is_named(tmp_path):
    path = tmp_path / "v.txt.gz"
    path.write_bytes(gzip.compress("the 1 2 3\n".encode() * 200)[:40])
    with pytest.raises(VectorsError, match=r"v\.txt\.gz: not a readable gzip file"):
        read_vectors(path, VOCAB, 3, progress=False)


def _vae(tmp_path, freeze):
    from contextlm.vae.data import sentence_dataloaders
    from contextlm.vae.learner import vae_learner
    table = pd.DataFrame({"text": SENTS, "split": ["train"] * 6 + ["valid"] * 2})
    dls = sentence_dataloaders(table, tokenizer="whitespace", bs=4, seed=0)
    learn = vae_learner(dls, dict(emb_sz=4, enc_hidden=8, dec_hidden=8, latent_sz=2))
    lines, vecs = word_vectors(["the", "cat", "dog", "song", "moment"], 4)
    report = apply_vectors(learn, learn.model.emb, write(tmp_path / "v.txt", lines), learn.vocab.itos, freeze,
                           progress=False, log=None)
    rows = [learn.vocab.stoi[w] for w in vecs]
    assert report.covered == 5
    assert torch.equal(learn.model.emb.weight[rows].detach(), torch.tensor(np.stack(list(vecs.values()))))
    return learn


def _fit(learn):
    before = {n: p.detach().clone() for n, p in learn.model.named_parameters()}
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(2, 1e-2)
    return {n: not torch.equal(before[n], p.detach()) for n, p in learn.model.named_parameters()}


def test_frozen_vae_vectors_stay_fixed_even_after_unfreeze(tmp_path):
    learn = _vae(tmp_path, freeze=True)
    learn.unfreeze()   # fastai sets requires_grad on what its optimizer holds: the frozen matrix is not in it
    changed = _fit(learn)
    assert not changed["emb.weight"] and not learn.model.emb.weight.requires_grad
    assert changed["decoder.weight_ih_l0"]


def test_fine_tuned_vae_vectors_train(tmp_path):
    assert _fit(_vae(tmp_path, freeze=False))["emb.weight"]


def _lm_settings(tmp_path, **kw):
    from contextlm.lm.settings import LMSettings
    lines, _ = word_vectors(["the", "and", "record", "sounds", "a", "lyrics", "chorus", "."], 6)
    return LMSettings(emb_sz=6, n_hid=8, n_layers=1, epochs=1, bs=4, bptt=10, min_freq=1, lr=1e-2,
                      vectors=str(write(tmp_path / "lm.txt", lines)), **kw)


@pytest.fixture(scope="module")
def lm_corpus():
    from contextlm.data.corpus import corpus_from_df
    from contextlm.data.synthetic import synthetic_reviews
    return corpus_from_df(synthetic_reviews(40, seed=1), "tiny", "text", ["energy"], seed=0)


def test_frozen_lm_vectors_need_untied_weights_and_stay_fixed(tmp_path, lm_corpus):
    from contextlm.lm.learner import context_language_model_learner
    from contextlm.lm.train import lm_dls
    s = _lm_settings(tmp_path, tie_weights=False, freeze_vectors=True)
    dls = lm_dls(lm_corpus, s)
    tied = context_language_model_learner(dls, config=dict(s.arch(), tie_weights=True))
    with pytest.raises(VectorsError, match="shared with 1.decoder"):
        apply_vectors(tied, tied.model[0].encoder, s.vectors, dls.vocab, freeze=True, progress=False)
    learn = context_language_model_learner(dls, config=s.arch())
    apply_vectors(learn, learn.model[0].encoder, s.vectors, dls.vocab, freeze=True, progress=False, log=None)
    learn.freeze()
    learn.unfreeze()
    changed = _fit(learn)
    assert not changed["0.encoder.weight"] and changed["1.decoder.weight"] and changed["0.rnns.0.module.weight_ih_l0"]


def test_lm_run_saves_the_report_and_loads_without_the_file(tmp_path, lm_corpus, capsys):
    from contextlm.lm.learner import load_lm
    from contextlm.lm.train import save_lm_run, train_lm
    s = _lm_settings(tmp_path)   # tied and fine-tuned: the vectors start both ends
    run = train_lm(lm_corpus, s, progress=False)
    assert "lm.txt: 8 of " in capsys.readouterr().out
    out = save_lm_run(run, tmp_path / "lm")
    report = json.loads((out / "config.json").read_text())["extra"]["vectors"]
    assert report["covered"] == 8 and report["dim"] == 6 and report["frozen"] is False
    (tmp_path / "lm.txt").unlink()
    lm = load_lm(out)
    assert torch.equal(lm.model[0].encoder.weight, run.learn.model[0].encoder.weight.cpu())


def test_settings_refuse_freezing_without_a_file_or_with_tied_weights(tmp_path):
    from contextlm.lm.settings import LMSettings
    from contextlm.vae.settings import SentenceVAESettings
    with pytest.raises(ContextLMError, match="--freeze-vectors needs --vectors FILE"):
        SentenceVAESettings(freeze_vectors=True)
    with pytest.raises(ContextLMError, match="--no-tie-weights"):
        LMSettings(vectors="v.txt", freeze_vectors=True)
    assert LMSettings(vectors="v.txt", freeze_vectors=True, tie_weights=False).arch()["tie_weights"] is False


def test_train_vae_with_frozen_vectors_end_to_end(tmp_path, capsys):
    from contextlm.vae.learner import load_vae_learner
    data = tmp_path / "songs.csv"
    pd.DataFrame({"text": SENTS * 2, "split": (["train"] * 6 + ["valid"] * 2) * 2}).to_csv(data, index=False)
    lines, vecs = word_vectors(["the", "cat", "Song", "moment", "park"], 4)
    vectors = tmp_path / "v.txt.gz"
    vectors.write_bytes(gzip.compress("".join(f"{x}\n" for x in lines).encode()))
    out = tmp_path / "vae"
    argv = ["train", "vae", "--data", str(data), "--tokenizer", "whitespace", "--vectors", str(vectors),
            "--freeze-vectors", "--emb-sz", "4", "--enc-hidden", "8", "--dec-hidden", "8", "--latent-sz", "2",
            "--epochs", "1", "--bs", "4", "--out", str(out)]
    assert main(argv) == 0
    assert "v.txt.gz: 5 of " in capsys.readouterr().out
    report = json.loads((out / "config.json").read_text())["training"]["vectors"]
    assert (report["covered"], report["lowercase"], report["frozen"]) == (5, 1, True)
    vectors.unlink()
    learn = load_vae_learner(out)
    rows = [learn.vocab.stoi[w.lower()] for w in vecs]
    assert torch.equal(learn.model.emb.weight[rows].detach(), torch.tensor(np.stack(list(vecs.values()))))
    assert main(["sample", "--model", str(out), "-n", "2"]) == 0


@pytest.mark.parametrize("argv, msg", [
    (["train", "lm", "--data", "{d}", "--vectors", "{v}", "--freeze-vectors"], TIED_FREEZE),
    (["train", "vae", "--data", "{d}", "--freeze-vectors"], "--freeze-vectors needs --vectors FILE"),
    (["train", "vae", "--data", "{d}", "--vectors", "{tmp}/none.txt", "--emb-sz", "4", "--epochs", "1"],
     "{tmp}/none.txt: no such vectors file"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, msg):
    data = tmp_path / "d.csv"
    pd.DataFrame({"text": SENTS, "energy": 0.5, "split": ["train"] * 6 + ["valid"] * 2}).to_csv(data, index=False)
    write(tmp_path / "v.txt", GLOVE)
    fill = dict(d=data, v=tmp_path / "v.txt", tmp=tmp_path)
    assert main([a.format(**fill) for a in argv] + ["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert msg.format(**fill) in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_tense_cvae_takes_character_vectors(tmp_path):
    from contextlm.tense.data import read_test_pairs, read_verb_lines
    from contextlm.tense.model import TrainSettings, train_tense_cvae
    fixtures = Path(__file__).parent / "fixtures"
    lines, vecs = word_vectors("abcdefghijklmnopqrstuvwxyz", 3)
    s = TrainSettings(epochs=1, bs=32, vectors=str(write(tmp_path / "chars.txt", lines)), freeze_vectors=True,
                      model=dict(emb_sz=3, enc_hidden=8, dec_hidden=8, latent_sz=2, label_emb_sz=2))
    verbs, pairs = read_verb_lines(fixtures / "verbs.txt")[:4], read_test_pairs(fixtures / "verbs_pairs.txt")[:1]
    learn = train_tense_cvae(verbs, pairs, s, progress=False)
    assert learn.vectors_report["frozen"] and learn.vectors_report["token_share"] == 1.0
    for ch, i in learn.vocab.stoi.items():
        if ch in vecs:
            assert torch.equal(learn.model.emb.weight[i].detach(), torch.from_numpy(vecs[ch]))
