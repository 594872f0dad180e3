"""Model folders are written whole or not at all: a lock against concurrent writers, a
temporary sibling renamed into place, no overwrite without asking, no file of an old run
left beside a new one, and loading refuses pickles with a plain one-line reason."""
import multiprocessing as mp
import os
import pickle
import subprocess
import sys

import pytest
import torch
from torch import nn

from contextlm.errors import ModelFolderError
from contextlm.modelio import (CONFIG_FILE, WEIGHTS_FILE, check_writable_target, load_model_folder,
                               model_folder_writer, read_model_config, save_model_folder)


def tiny(value: float) -> nn.Linear:
    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.fill_(value)
        model.bias.fill_(value)
    return model


def snapshot(folder):
    """Every file under `folder` with its bytes and mtime."""
    return {p.relative_to(folder): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


def leftovers(parent, name):
    return sorted(p.name for p in parent.iterdir() if p.name.startswith(f".{name}."))


def test_save_and_load_round_trip(tmp_path):
    out = save_model_folder(tmp_path / "runs" / "m", "toy", tiny(0.5), {"size": 3})
    state, config = load_model_folder(out, "toy")
    assert out == tmp_path / "runs" / "m" and config["size"] == 3
    assert torch.equal(state["weight"], torch.full((2, 3), 0.5))
    assert leftovers(tmp_path / "runs", "m") == []          # no temp folder, no lock left


def _write_slowly(path: str, value: float, start, hold: float, results) -> None:
    """One racer: once both have imported everything, enter the writer, hold it for `hold` s, then finish."""
    import time
    start.wait(timeout=60)
    try:
        with model_folder_writer(path) as tmp:
            torch.save({k: v for k, v in tiny(value).state_dict().items()}, tmp / WEIGHTS_FILE)
            time.sleep(hold)
            (tmp / CONFIG_FILE).write_text('{"kind": "toy"}')
        results.put((value, "ok"))
    except ModelFolderError as e:
        results.put((value, str(e)))


def test_two_processes_writing_one_folder_one_wins_and_the_folder_loads(tmp_path):
    ctx = mp.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    out = tmp_path / "m"
    procs = [ctx.Process(target=_write_slowly, args=(str(out), v, start, 2.0, results)) for v in (1.0, 2.0)]
    for p in procs:
        p.start()
    got = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
    winners = [v for v, msg in got.items() if msg == "ok"]
    assert len(winners) == 1, got
    loser_msg = got[({1.0, 2.0} - set(winners)).pop()]
    assert "another run (pid" in loser_msg and str(out) in loser_msg and "\n" not in loser_msg
    state, _ = load_model_folder(out, "toy")
    assert torch.equal(state["weight"], torch.full((2, 3), winners[0]))
    assert leftovers(tmp_path, "m") == []


def test_existing_folder_is_refused_without_overwrite(tmp_path):
    out = save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    before = snapshot(out)
    with pytest.raises(ModelFolderError, match=r"m exists; pass --overwrite \(overwrite=True\) to replace it$"):
        save_model_folder(out, "toy", tiny(2.0), {})
    with pytest.raises(ModelFolderError, match="exists; pass --overwrite"):
        check_writable_target(out)
    assert snapshot(out) == before and leftovers(tmp_path, "m") == []


def test_overwrite_replaces_the_whole_folder(tmp_path):
    out = save_model_folder(tmp_path / "m", "vae", tiny(1.0), {})
    (out / "latent.png").write_bytes(b"old plot")              # a file only the old run wrote
    save_model_folder(out, "toy", tiny(2.0), {}, overwrite=True)
    assert sorted(p.name for p in out.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert torch.equal(load_model_folder(out, "toy")[0]["weight"], torch.full((2, 3), 2.0))
    assert leftovers(tmp_path, "m") == []


def test_a_failing_run_leaves_the_old_folder_byte_identical(tmp_path):
    out = save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    (out / "history.csv").write_text("epoch,loss\n0,1.0\n")
    before = snapshot(out)
    with pytest.raises(RuntimeError, match="diverged"):
        with model_folder_writer(out, overwrite=True) as tmp:
            (tmp / "history.csv").write_text("epoch,loss\n0,nan\n")
            raise RuntimeError("diverged")
    assert snapshot(out) == before and leftovers(tmp_path, "m") == []


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("x"), "is a file, not a model folder"),
    (lambda p: (p.mkdir(), (p / "notes.txt").write_text("mine")), "is not a model folder .no config.json.; refusing"),
])
def test_files_and_foreign_folders_are_never_replaced(tmp_path, make, message):
    target = tmp_path / "out"
    make(target)
    for overwrite in (False, True):
        with pytest.raises(ModelFolderError, match=message):
            save_model_folder(target, "toy", tiny(1.0), {}, overwrite=overwrite)
    assert target.exists()


def test_parent_that_is_a_file_fails_fast(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ModelFolderError, match="cannot be created, .*f is a file"):
        check_writable_target(tmp_path / "f" / "m")


def test_an_empty_folder_is_a_fine_target(tmp_path):
    (tmp_path / "m").mkdir()
    save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    assert read_model_config(tmp_path / "m", "toy")["kind"] == "toy"


def test_a_live_lock_is_respected_and_a_dead_ones_is_taken_over(tmp_path):
    lock = tmp_path / ".m.lock"
    lock.write_text(f"{os.getppid()}\n")                        # a live process holds it
    with pytest.raises(ModelFolderError, match=f"another run \\(pid {os.getppid()}\\) is writing this model folder"):
        save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(dead.stdout)                                 # its writer has exited
    save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    assert load_model_folder(tmp_path / "m", "toy")[1]["kind"] == "toy"
    assert not lock.exists()


class _RunsCode:
    def __reduce__(self):
        return (print, ("this ran",))


@pytest.mark.parametrize("dump", [
    lambda obj, f: torch.save(obj, f),
    lambda obj, f: pickle.dump(obj, open(f, "wb")),
])
def test_a_pickled_weights_file_is_refused_in_one_plain_line(tmp_path, dump, capsys):
    out = save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    dump({"weight": _RunsCode()}, out / WEIGHTS_FILE)
    with pytest.raises(ModelFolderError) as e:
        load_model_folder(out, "toy")
    msg = str(e.value)
    assert msg == (f"{out / WEIGHTS_FILE}: refused: loading it would need pickle, which can run arbitrary code; "
                   "contextlm model files are plain state dicts")
    assert "this ran" not in capsys.readouterr().out


def test_garbage_weights_and_a_config_folder_are_one_line_errors(tmp_path):
    out = save_model_folder(tmp_path / "m", "toy", tiny(1.0), {})
    data = (out / WEIGHTS_FILE).read_bytes()
    (out / WEIGHTS_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFolderError) as e:
        load_model_folder(out, "toy")
    msg = str(e.value)                                          # torch's first sentence, not cut mid-word
    assert msg.startswith(f"{out / WEIGHTS_FILE}: not a loadable state dict (") and msg.endswith(")")
    assert "\n" not in msg and "internal miniz error" not in msg
    (out / WEIGHTS_FILE).write_bytes(b"garbage" * 10)
    with pytest.raises(ModelFolderError, match="not a loadable state dict") as e:
        load_model_folder(out, "toy")
    assert "weights_only" not in str(e.value) and "\n" not in str(e.value)
    (out / CONFIG_FILE).unlink()
    (out / CONFIG_FILE).mkdir()
    with pytest.raises(ModelFolderError, match="config.json: is a folder, not a JSON file"):
        load_model_folder(out, "toy")
