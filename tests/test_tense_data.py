"""Verb-tense data: the lab format, tense names, test pairs, lemminflect build and held-out split."""
from pathlib import Path

import pytest

from contextlm.errors import ContextLMError, CorpusError
from contextlm.tense.data import (LAB_TEST_CONDITIONS, TENSES, TensePair, all_pairs, build_lemminflect,
                                  lemminflect_verbs, read_test_pairs, read_verb_lines, split_heldout,
                                  tense_code, tense_id, write_verb_lines)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name,code", [("sp", "sp"), ("simple present", "sp"), ("Simple-Present", "sp"),
                                       ("VBZ", "tp"), ("third-person", "tp"), ("progressive", "pg"),
                                       ("ing", "pg"), ("past", "p"), ("simple_past", "p"), ("VBD", "p")])
def test_tense_aliases(name, code):
    assert tense_code(name) == code
    assert tense_id(name) == TENSES.index(code)


def test_unknown_tense_is_one_clear_line():
    with pytest.raises(ContextLMError, match=r"unknown tense 'future'; use one of sp, tp, pg, p") as e:
        tense_id("future")
    assert "\n" not in str(e.value)
    with pytest.raises(ContextLMError, match="out of range"):
        tense_id(4)


def test_read_verb_lines_fixture():
    lines = read_verb_lines(FIXTURES / "verbs.txt")
    assert len(lines) == 10
    assert lines[4] == ("run", "runs", "running", "ran")


def test_read_verb_lines_errors(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("walk walks walking walked\ntalk talks talked\n")
    with pytest.raises(CorpusError, match=r"bad.txt: line 2: expected 4 forms \(sp tp pg p\), got 3"):
        read_verb_lines(bad)
    with pytest.raises(CorpusError, match="no such file"):
        read_verb_lines(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(CorpusError, match="no verbs"):
        read_verb_lines(tmp_path / "empty.txt")


def test_write_then_read_round_trip(tmp_path):
    lines = read_verb_lines(FIXTURES / "verbs.txt")
    path = write_verb_lines(tmp_path / "sub" / "v.txt", lines)
    assert not path.read_text().endswith("\n")  # the course file's layout
    assert read_verb_lines(path) == lines


def test_read_test_pairs_with_lab_conditions(tmp_path):
    f = tmp_path / "test.txt"
    f.write_text("\n".join(f"w{i} x{i}" for i in range(10)))
    pairs = read_test_pairs(f)
    assert [p.condition for p in pairs] == [f"{a}->{b}" for a, b in LAB_TEST_CONDITIONS]
    assert pairs[4] == TensePair("w4", "x4", TENSES.index("p"), TENSES.index("tp"))
    f.write_text("walk walked\n")
    with pytest.raises(CorpusError, match="1 pairs, but 10 tense conditions"):
        read_test_pairs(f)


def test_read_test_pairs_with_tense_columns():
    pairs = read_test_pairs(FIXTURES / "verbs_pairs.txt")  # four columns everywhere: tenses from the file
    assert pairs == read_test_pairs(FIXTURES / "verbs_pairs.txt", conditions=None)
    assert pairs[1] == TensePair("jumps", "jumping", 1, 2)
    assert [p.condition for p in pairs] == ["sp->p", "tp->pg", "pg->sp", "p->tp"]


def test_read_test_pairs_bad_tense_names_the_line(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("walk walked sp p\nwalk walks sp future\n")
    with pytest.raises(CorpusError, match=r"pairs.txt: line 2: unknown tense 'future'"):
        read_test_pairs(f)
    f.write_text("")
    with pytest.raises(CorpusError, match="no test pairs"):
        read_test_pairs(f)


def test_all_pairs_counts_and_content():
    lines = read_verb_lines(FIXTURES / "verbs.txt")[:2]
    pairs = all_pairs(lines)
    assert len(pairs) == 2 * 12 and len(all_pairs(lines, include_same=True)) == 2 * 16
    assert TensePair("walked", "walking", 3, 2) in pairs
    assert all(p.src_tense != p.tgt_tense for p in pairs)


def test_lemminflect_verbs_are_real_inflections():
    verbs = lemminflect_verbs()
    assert len(verbs) > 5000
    table = {v[0]: v for v in verbs}
    assert table["access"] == ("access", "accesses", "accessing", "accessed")
    assert table["run"] == ("run", "runs", "running", "ran")
    assert table["stop"] == ("stop", "stops", "stopping", "stopped")
    assert all(w.isalpha() and w.islower() and w.isascii() for v in verbs for w in v)


def test_split_heldout_is_seeded_disjoint_and_respects_reserved():
    verbs = [(f"v{i}", f"v{i}s", f"v{i}ing", f"v{i}ed") for i in range(100)]
    train, held = split_heldout(verbs, 0.2, seed=1, never_held_out={"v3", "v7ed"})
    assert len(held) == 20 and len(train) == 80
    assert not set(train) & set(held)
    assert {verbs[3], verbs[7]} <= set(train)
    assert split_heldout(verbs, 0.2, seed=1, never_held_out={"v3", "v7ed"}) == (train, held)
    assert split_heldout(verbs, 0.2, seed=2)[1] != held
    with pytest.raises(ContextLMError, match="between 0 and 1"):
        split_heldout(verbs, 1.5)


def test_build_lemminflect_keeps_reserved_verbs_in_training(tmp_path):
    paths = build_lemminflect(tmp_path / "out", heldout=0.1, seed=0, never_held_out=[FIXTURES / "verbs.txt"])
    train, held = read_verb_lines(paths["train"]), read_verb_lines(paths["heldout"])
    assert abs(len(held) - 0.1 * (len(train) + len(held))) <= 1
    fixture_words = {w for line in read_verb_lines(FIXTURES / "verbs.txt") for w in line}
    assert not fixture_words & {w for line in held for w in line}
    assert ("walk", "walks", "walking", "walked") in train
    assert not {line[0] for line in train} & {line[0] for line in held}
