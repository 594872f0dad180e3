"""Optuna sweeps (issue 14, item 2): a 3-trial LM sweep with 2 worker processes completes,
a rerun resumes it without repeating a trial, `--trials 4` adds exactly one, the best
trial's model folder loads; `sweep show` writes the plots; pruning stops a fit through the
fastai callback; a bad `--param` is a one-line error. Tiny data and models (seconds each)."""
import json

import optuna
import pytest
import torch

from contextlm.cli import main

torch.set_num_threads(1)
TINY = ["--emb-sz", "8", "--n-hid", "8", "--n-layers", "1", "--epochs", "1", "--bs", "8", "--bptt", "10",
        "--min-freq", "1"]
PARAMS = ["--param", "lr=log:1e-3:1e-1", "--param", "drop_mult=0.2:1.0"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from contextlm.data.synthetic import synthetic_reviews
    path = tmp_path_factory.mktemp("sweep-data") / "reviews.csv"
    synthetic_reviews(120, seed=2).to_csv(path, index=False)
    return path


def _trials(study_file):
    return optuna.load_study(study_name=study_file.stem, storage=f"sqlite:///{study_file}").trials


@pytest.fixture(scope="module")
def lm_sweep(tmp_path_factory, data):
    """3 trials, 2 worker processes (spawned), then the same command again."""
    tmp = tmp_path_factory.mktemp("sweep")
    cmd = ["sweep", "lm", "--data", str(data), "--study", str(tmp / "lm.sqlite"), *PARAMS, "--jobs", "2",
           "--runs-dir", str(tmp / "runs"), "--sampler-seed", "0", *TINY]
    assert main([*cmd, "--trials", "3"]) == 0
    first = _trials(tmp / "lm.sqlite")
    return tmp, cmd, first


def test_a_sweep_of_3_trials_with_2_jobs_completes(lm_sweep):
    tmp, _, trials = lm_sweep
    assert [t.number for t in trials] == [0, 1, 2]
    assert all(t.state.name == "COMPLETE" and t.value > 1 for t in trials)
    assert all(1e-3 <= t.params["lr"] <= 1e-1 and 0.2 <= t.params["drop_mult"] <= 1.0 for t in trials)
    assert all(t.user_attrs["settings"]["lr"] == t.params["lr"] and t.user_attrs["settings"]["emb_sz"] == 8
               for t in trials)
    runs = [json.loads(p.read_text()) for p in (tmp / "runs").glob("*/run.json")]   # one registry entry per trial
    assert sorted(r["sweep"]["trial"] for r in runs) == [0, 1, 2] and {r["status"] for r in runs} == {"finished"}


def test_rerun_resumes_and_more_trials_add_only_the_missing_ones(lm_sweep, capsys):
    tmp, cmd, first = lm_sweep
    capsys.readouterr()
    assert main([*cmd, "--trials", "3"]) == 0
    assert "3 finished trials already (--trials 3); nothing to run" in capsys.readouterr().out
    assert [(t.number, t.params, t.value) for t in _trials(tmp / "lm.sqlite")] == \
        [(t.number, t.params, t.value) for t in first]
    assert main([*cmd, "--trials", "4"]) == 0
    after = _trials(tmp / "lm.sqlite")
    assert len(after) == 4 and after[3].state.name == "COMPLETE"
    assert [(t.number, t.params, t.value) for t in after[:3]] == [(t.number, t.params, t.value) for t in first]


def test_the_best_trial_model_folder_loads(lm_sweep):
    from contextlm.lm.learner import load_lm
    tmp, _, _ = lm_sweep
    study = optuna.load_study(study_name="lm", storage=f"sqlite:///{tmp / 'lm.sqlite'}")
    best = tmp / "lm-best"
    info = json.loads((best / "sweep.json").read_text())
    assert info["trial"] == study.best_trial.number and info["value"] == pytest.approx(study.best_value)
    settings = json.loads((best / "settings.json").read_text())
    assert settings["lr"] == study.best_params["lr"] and settings["drop_mult"] == study.best_params["drop_mult"]
    lm = load_lm(best)
    assert len(lm.generate(2, {"energy": 0.5}, max_len=5, seed=0)) == 2


def test_sweep_show_prints_the_table_and_writes_the_plots(lm_sweep, capsys):
    tmp, _, _ = lm_sweep
    capsys.readouterr()
    assert main(["sweep", "show", str(tmp / "lm.sqlite")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["#", "state", "valid_perplexity", "drop_mult", "lr", "seconds"]
    study = optuna.load_study(study_name="lm", storage=f"sqlite:///{tmp / 'lm.sqlite'}")
    marked = [ln.split()[1] for ln in out[1:] if ln.startswith("*")]
    assert marked == [str(study.best_trial.number)]
    for name in ("lm-history.png", "lm-importance.png"):
        assert (tmp / name).read_bytes()[:4] == b"\x89PNG"


def test_show_says_why_there_is_no_importance_plot(tmp_path, data, capsys):
    study = tmp_path / "one.sqlite"
    assert main(["sweep", "lm", "--data", str(data), "--study", str(study), *PARAMS, "--trials", "1",
                 "--runs-dir", str(tmp_path / "runs"), *TINY]) == 0
    capsys.readouterr()
    assert main(["sweep", "show", str(study)]) == 0
    out = capsys.readouterr().out
    assert "parameter importance: not plotted, needs at least 2 completed trials (the study has 1)" in out
    assert (tmp_path / "one-history.png").is_file() and not (tmp_path / "one-importance.png").exists()


def test_a_study_of_other_settings_is_refused_in_one_line(lm_sweep, capsys):
    tmp, cmd, _ = lm_sweep
    before = len(_trials(tmp / "lm.sqlite"))
    capsys.readouterr()
    assert main([*cmd[:-len(TINY)], *TINY[:-2], "--min-freq", "2", "--trials", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "made by a sweep with other base" in err
    assert len(_trials(tmp / "lm.sqlite")) == before


class _Trial:
    """What the callback needs of an Optuna trial: report, should_prune."""

    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return True


def test_pruning_stops_the_fit_after_the_epoch_through_the_callback(data):
    from contextlm.experiments.pruning import OptunaPruning
    from contextlm.lm.settings import LMSettings
    from contextlm.lm.train import load_lm_corpus, train_lm
    s = LMSettings(emb_sz=8, n_hid=8, n_layers=1, epochs=3, bs=8, bptt=10, min_freq=1)
    trial = _Trial()
    cb = OptunaPruning(trial, "perplexity")
    run = train_lm(load_lm_corpus(data, s, verbose=False), s, cbs=[cb], progress=False)
    assert cb.pruned == 0 and len(run.learn.recorder.values) == 1
    assert trial.reports == [(0, pytest.approx(float(run.learn.recorder.values[0][-1])))]


def test_a_vae_sweep_runs_and_its_best_model_loads(tmp_path, data):
    from contextlm.vae.learner import load_vae_learner
    study = tmp_path / "vae.sqlite"
    assert main(["sweep", "vae", "--data", str(data), "--sentences", "--study", str(study), "--param",
                 "lr=log:1e-3:1e-2", "--param", "latent_sz=int:2:4", "--trials", "2", "--pruner", "none",
                 "--epochs", "1", "--bs", "16", "--emb-sz", "8", "--enc-hidden", "8", "--dec-hidden", "8",
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    trials = _trials(study)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    learn = load_vae_learner(tmp_path / "vae-best")
    best = json.loads((tmp_path / "vae-best" / "sweep.json").read_text())
    assert learn.model.config.latent_sz == best["params"]["latent_sz"]


@pytest.mark.parametrize("param, message", [
    ("foo=1:2", "unknown lm setting 'foo'; known: bptt, bs,"),
    ("lr=0:1", "lr=0.0 (--lr): must be > 0"),
    ("drop_mult=0.2:2", "drop_mult=2.0 (--drop-mult): must be <= 1.6"),
    ("n_layers=int:0:3", "n_layers=0 (--n-layers): must be >= 1"),
    ("lr=log:1e-4", "expected NAME=LOW:HIGH"),
    ("lr", "expected NAME=LOW:HIGH"),
    ("lr=1e-2:1e-3", "LOW 0.01 must be below HIGH 0.001"),
    ("context_bias=cat:true,maybe", "'maybe' is not true or false"),
    ("features=cat:energy", "features is a list setting and cannot be swept"),
])
def test_a_bad_param_is_a_one_line_error(tmp_path, data, capsys, param, message):
    assert main(["sweep", "lm", "--data", str(data), "--study", str(tmp_path / "s.sqlite"), "--param", param]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("contextlm: error: --param") and message in err
    assert not (tmp_path / "s.sqlite").exists()


# -- --storage URL: workers that share one database (issue 15) -----------------------------------------
def test_two_workers_on_one_storage_never_run_the_same_trial(tmp_path, data):
    """Two `contextlm sweep lm --storage URL` commands at once, as on two machines (own registry,
    own best folder): the database hands every trial to one of them, and they stop together."""
    import subprocess
    import sys
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen([sys.executable, "-m", "contextlm", "sweep", "lm", "--data", str(data), "--storage", url,
                               "--study-name", "titles", *PARAMS, "--trials", "3", "--runs-dir", str(tmp_path / f"runs{i}"),
                               "--best-out", str(tmp_path / f"best{i}"), "--sampler-seed", str(i), *TINY],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**__import__("os").environ, "OMP_NUM_THREADS": "1"}) for i in range(2)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    trials = optuna.load_study(study_name="titles", storage=url).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) >= 3 and len({t.number for t in trials}) == len(trials)
    ran = [json.loads(p.read_text())["sweep"]["trial"] for i in range(2) for p in (tmp_path / f"runs{i}").glob("*/run.json")]
    assert len(ran) == len(set(ran)) == len(trials)          # every trial run once, by one worker
    assert all("shared.db" in o and "(study titles)" in o for o in outs)
    # the shared study is shown from its database as from a file
    assert main(["sweep", "show", "--storage", url, "--name", "titles", "--out-dir", str(tmp_path / "png")]) == 0
    assert (tmp_path / "png" / "titles-history.png").is_file()
    assert main(["sweep", "show", str(tmp_path / "shared.db"), "--storage", url]) == 2


def test_storage_urls_are_checked_and_never_shown_with_their_password(tmp_path, data, capsys):
    from contextlm.experiments.sweep_study import redact_url
    assert redact_url("postgresql://me:s3cret@db.lab:5432/optuna") == "postgresql://me:***@db.lab:5432/optuna"
    assert redact_url("sqlite:///runs/x.db") == "sqlite:///runs/x.db"
    base = ["sweep", "lm", "--data", str(data), *PARAMS, *TINY]
    for extra, expected in ((["--storage", "postgresql://me:s3cret@127.0.0.1:1/optuna"], "--storage postgresql://me:***@"),
                            (["--storage", "not a url"], "--storage not a url: not a database URL"),
                            (["--storage", "sqlite:///x.db", "--study", str(tmp_path / "a.sqlite")], "exactly one of"),
                            ([], "exactly one of")):
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and expected in err and "s3cret" not in err, err
