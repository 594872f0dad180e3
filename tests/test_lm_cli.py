"""`contextlm train lm`, `generate`, `evaluate` and `data get` as a user runs them."""
import json

import pandas as pd
import pytest

from contextlm.cli import main

TINY = ["--emb-sz", "8", "--n-hid", "8", "--n-layers", "1", "--epochs", "1", "--bs", "8", "--bptt", "10",
        "--min-freq", "1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_csv):
    out = tmp_path_factory.mktemp("cli") / "lm"
    assert main(["train", "lm", "--data", str(synthetic_csv), "--features", "energy", "--out", str(out),
                 "--compare", *TINY]) == 0
    return out


def test_train_compare_writes_both_folders_and_pictures(trained, synthetic_csv):
    for folder in (trained, trained.parent / "lm-baseline"):
        assert {"model.pth", "config.json", "history.csv", "loss.png"} <= {p.name for p in folder.iterdir()}
    cfg = json.loads((trained / "config.json").read_text())
    assert cfg["n_features"] == 1 and cfg["extra"]["metrics"]["valid"]["perplexity"] > 1
    assert json.loads((trained.parent / "lm-baseline" / "config.json").read_text())["n_features"] == 0
    assert cfg["train_data"]["path"] == str(synthetic_csv.resolve())


def test_generate_prints_and_writes_samples(trained, tmp_path, capsys):
    out = tmp_path / "s.csv"
    assert main(["generate", "--model", str(trained), "--energy", "0.9", "-n", "3", "--max-len", "8",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "# 3 samples at energy=0.9" in printed and f"wrote samples: {out}" in printed
    df = pd.read_csv(out)
    assert len(df) == 3 and (df.energy == 0.9).all()


def test_evaluate_reports_perplexity_on_a_file(trained, synthetic_csv, capsys):
    assert main(["evaluate", "--model", str(trained), str(synthetic_csv)]) == 0
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert res["split"] == "all" and res["documents"] == 800 and res["perplexity"] > 1


@pytest.mark.parametrize("argv, message", [
    (["generate", "--model", "{m}", "--feature", "tempo=120"], "unknown feature 'tempo'"),
    (["generate", "--model", "{m}", "--energy", "1.5"], "energy=1.5 is impossible: energy lies in [0, 1]"),
    (["generate", "--model", "{m}", "--feature", "energy"], "expected NAME=VALUE"),
    (["generate", "--model", "{tmp}/none"], "no such model folder"),
    (["evaluate", "--model", "{m}", "{tmp}/none.csv"], "none.csv: no such file"),
])
def test_bad_requests_fail_in_one_line(trained, tmp_path, capsys, argv, message):
    argv = [a.format(m=trained, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_train_names_a_missing_feature_column(synthetic_csv, tmp_path, capsys):
    assert main(["train", "lm", "--data", str(synthetic_csv), "--features", "loudness",
                 "--out", str(tmp_path / "m"), *TINY]) == 2
    assert "no column 'loudness'" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_data_get_copies_verifies_and_refuses(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.txt").write_text("walk walks walking walked\n")
    (src / "test.txt").write_text("walk walked\n")
    assert main(["data", "get", "verb-tense", "--from", str(src), "--cache", str(tmp_path / "c")]) == 2
    assert "sha256 differs from the public original" in capsys.readouterr().err
    assert main(["data", "get", "verb-tense", "--from", str(src), "--cache", str(tmp_path / "c"),
                 "--no-verify", "--print-path"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "c" / "verb-tense" / "train.txt")
    assert main(["data", "get", "ptb", "--from", str(src), "--cache", str(tmp_path / "c")]) == 2
    assert "no file 'ptb.train.txt'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def genre_model(tmp_path_factory, synthetic_csv):
    """A tiny model conditioned on energy and a genre label, trained with context dropout."""
    tmp = tmp_path_factory.mktemp("genre")
    df = pd.read_csv(synthetic_csv)
    df["genre"] = ["rock" if e > 0.5 else "folk" for e in df.energy]
    df.to_csv(tmp / "g.csv", index=False)
    out = tmp / "lm"
    assert main(["train", "lm", "--data", str(tmp / "g.csv"), "--features", "energy", "--labels", "genre",
                 "--context-dropout", "0.3", "--out", str(out), *TINY]) == 0
    return out


def test_generate_with_a_label_and_guidance(genre_model, capsys):
    assert main(["generate", "--model", str(genre_model), "--label", "genre=rock", "--guidance", "2", "-n", "2",
                 "--max-len", "6"]) == 0
    assert "# 2 samples at genre=rock, guidance 2" in capsys.readouterr().out
    assert json.loads((genre_model / "config.json").read_text())["label_names"] == {"genre": ["folk", "rock"]}


@pytest.mark.parametrize("argv, message", [
    (["generate", "--model", "{g}", "--label", "genre=jazz"], "label 'jazz': unknown; known labels: folk, rock"),
    (["generate", "--model", "{g}", "--label", "mood=sad"], "mood"),
    (["generate", "--model", "{g}", "--label", "genre=rock", "--label", "genre=folk"], "--label genre is given twice"),
    (["generate", "--model", "{b}", "--guidance", "2"], "guidance"),
    (["generate", "--model", "{g}", "--out", "{g}/config.json"], "cannot write '.json'"),
])
def test_bad_context_requests_fail_in_one_line(genre_model, trained, argv, message, capsys):
    argv = [a.format(g=genre_model, b=trained.parent / "lm-baseline") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_an_existing_model_folder_is_never_replaced_without_overwrite(trained, synthetic_csv, tmp_path, capsys):
    before = (trained / "model.pth").read_bytes()
    # refused before the (missing) data file is read, and before anything is trained
    assert main(["train", "lm", "--data", str(tmp_path / "missing.csv"), "--out", str(trained), *TINY]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (trained / "model.pth").read_bytes() == before
    copy = tmp_path / "copy"
    assert main(["train", "lm", "--data", str(synthetic_csv), "--out", str(copy), *TINY]) == 0
    (copy / "stray.txt").write_text("from an older run")
    assert main(["train", "lm", "--data", str(synthetic_csv), "--out", str(copy), "--overwrite", "--seed", "3",
                 *TINY]) == 0
    assert not (copy / "stray.txt").exists() and json.loads((copy / "settings.json").read_text())["seed"] == 3


def test_evaluate_names_an_empty_split_and_scores_labels(genre_model, synthetic_csv, tmp_path, capsys):
    df = pd.read_csv(synthetic_csv).assign(split="train", genre="rock")
    df.to_csv(tmp_path / "train_only.csv", index=False)
    assert main(["evaluate", "--model", str(genre_model), str(tmp_path / "train_only.csv")]) == 2
    assert "no rows in split 'test' (column 'split' holds: train); pass --split" in capsys.readouterr().err
    assert main(["evaluate", "--model", str(genre_model), str(tmp_path / "train_only.csv"), "--split", "train"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["documents"] == len(df)


def test_the_unconditioned_lm_trains_on_plain_text(tmp_path, capsys):
    text = tmp_path / "plain.txt"
    text.write_text("\n".join(f"the band plays song number {i % 7} tonight" for i in range(120)) + "\n")
    assert main(["train", "lm", "--data", str(text), "--no-features", "--out", str(tmp_path / "m"), *TINY]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["n_features"] == 0
    assert main(["evaluate", "--model", str(tmp_path / "m"), str(text)]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["perplexity"] > 1


def test_data_get_no_verify_with_a_wrong_file_keeps_nothing(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "spotify_songs.csv").write_text("a,b\n1,2\n")
    assert main(["data", "get", "spotify-songs", "--from", str(src), "--cache", str(tmp_path / "c"),
                 "--no-verify"]) == 2
    err = capsys.readouterr().err.strip()
    assert "spotify_songs.csv: no column 'track_id'" in err and len(err.splitlines()) == 1
    assert not any((tmp_path / "c").rglob("*.csv"))  # no half-filled cache
