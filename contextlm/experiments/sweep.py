"""Hyperparameter sweeps with Optuna: a real study in a SQLite file, resumable, run by N
worker processes, bad trials pruned after any epoch.

    params = parse_params(["lr=log:1e-4:1e-2", "drop_mult=0.2:1.0"], "lm")
    run_sweep(SweepPlan(kind="lm", data="songs.csv", base=LMSettings(...).to_dict(), params=params,
                        study="runs/sweeps/lm.sqlite", trials=20, jobs=2, metric="valid_perplexity"))

- `--param` names are the settings' field names (`LMSettings`; for the VAE,
  `SentenceVAESettings` and the `VAEConfig` fields that go into `model`), and a range is
  checked against the field's declared bounds before any work.
- Resuming: `--trials` counts the study's finished (complete or pruned) trials; a rerun runs
  only the missing ones. Trials a killed sweep left `RUNNING` are marked failed (and
  replaced). A study made with other settings, parameters, metric or data is refused.
- Each trial trains through the library trainer (`train_lm` / `train_vae`, no progress
  bars) with `OptunaPruning` (contextlm/experiments/pruning.py) and is recorded in the run
  registry (status `pruned` for pruned ones). A trial that beats the best saved so far
  writes its model folder into the best folder (under a lock: no retraining at the end, no
  folder per trial); `sweep.json` in it names the trial, its value and parameters.

Torch- and Optuna-free at import (the parameter checks run before anything heavy loads).
"""
from __future__ import annotations

import json
import math
import os
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from ..errors import ContextLMError
from ..settings import _kind, check_field

# --metric name -> the Recorder column watched per epoch (train_loss, valid_loss, then the validation metrics)
METRICS = {
    "lm": {"valid_perplexity": "perplexity", "valid_loss": "valid_loss", "valid_accuracy": "accuracy",
           "train_loss": "train_loss"},
    "vae": {"valid_neg_elbo": "neg_elbo", "valid_loss": "valid_loss", "valid_recon": "recon", "valid_kl": "kl",
            "valid_elbo_ppl": "elbo_ppl", "valid_au": "au", "valid_mi": "mi", "train_loss": "train_loss"},
}
DEFAULT_METRIC = {"lm": "valid_perplexity", "vae": "valid_neg_elbo"}
MAXIMIZED = {"valid_accuracy", "valid_au", "valid_mi"}
SWEEP_ATTR = "contextlm_sweep"
BEST_FILE = "sweep.json"
SYNTAX = "expected NAME=LOW:HIGH, NAME=log:LOW:HIGH, NAME=int:LOW:HIGH or NAME=cat:A,B,... (e.g. lr=log:1e-4:1e-2)"


def default_direction(metric: str) -> str:
    return "maximize" if metric in MAXIMIZED else "minimize"


def check_metric(kind: str, metric: str) -> str:
    if metric not in METRICS[kind]:
        raise ContextLMError(f"--metric {metric}: unknown for a {kind} sweep; known: {', '.join(METRICS[kind])}")
    return METRICS[kind][metric]


# -- parameters -----------------------------------------------------------------------------------
def sweep_classes(kind: str) -> list[tuple[type, str | None]]:
    """The settings classes a sweep of `kind` draws from, with the dict field they fill."""
    if kind == "lm":
        from ..lm.settings import LMSettings
        return [(LMSettings, None)]
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    return [(SentenceVAESettings, None), (VAEConfig, "model")]


def sweepable(kind: str) -> dict[str, tuple[type, Any, str | None]]:
    """name -> (class, field, nested) of every field a `--param` may name: the command-line
    settings that are numbers, booleans or strings (not lists)."""
    out = {}
    for cls, nested in sweep_classes(kind):
        for f in fields(cls):
            if f.metadata.get("cli") and _kind(f)[0] in ("int", "float", "bool", "str") and f.name not in out:
                out[f.name] = (cls, f, nested)
    return out


@dataclass(frozen=True)
class Param:
    """One swept setting: a float or int range (`log` for a log scale) or categorical choices."""
    name: str
    kind: str                      # 'float' | 'int' | 'cat'
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple = ()
    nested: str | None = None      # 'model' for a VAEConfig field

    def suggest(self, trial) -> Any:
        if self.kind == "cat":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def spec(self) -> str:
        if self.kind == "cat":
            return f"{self.name}=cat:{','.join(json.dumps(c) for c in self.choices)}"
        return f"{self.name}={'log:' if self.log else ''}{'int:' if self.kind == 'int' else ''}{self.low!r}:{self.high!r}"


def _value(text: str, kind: str, where: str) -> Any:
    text = text.strip()
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise ContextLMError(f"{where}: {text!r} is not true or false")
    if kind == "str":
        return None if text.lower() == "none" else text
    try:
        v = float(text)
    except ValueError:
        raise ContextLMError(f"{where}: {text!r} is not a number") from None
    return int(v) if kind == "int" and math.isfinite(v) and v == int(v) else v


def parse_param(text: str, kind: str) -> Param:
    """`NAME=[log:][int:]LOW:HIGH` or `NAME=cat:A,B,...` checked against the field `NAME` (its
    type and declared bounds); every problem is one line."""
    where = f"--param {text!r}"
    name, sep, spec = text.partition("=")
    name, spec = name.strip(), spec.strip()
    if not sep or not name or not spec:
        raise ContextLMError(f"{where}: {SYNTAX}")
    known = sweepable(kind)
    lists = {f.name for cls, _ in sweep_classes(kind) for f in fields(cls) if f.metadata.get("cli")} - set(known)
    if name in lists:
        raise ContextLMError(f"{where}: {name} is a list setting and cannot be swept; give it as a flag")
    if name not in known:
        raise ContextLMError(f"{where}: unknown {kind} setting {name!r}; known: {', '.join(sorted(known))}")
    cls, f, nested = known[name]
    fkind = _kind(f)[0]

    def checked(v):
        try:
            return check_field(cls, f, v)
        except ContextLMError as e:
            raise ContextLMError(f"{where}: {e}") from None

    if spec.startswith("cat:"):
        items = [c for c in spec[4:].split(",")]
        if not items or any(not c.strip() for c in items):
            raise ContextLMError(f"{where}: {SYNTAX}")
        choices = tuple(checked(_value(c, fkind, where)) for c in items)
        if len(set(choices)) != len(choices):
            raise ContextLMError(f"{where}: a choice is given twice")
        return Param(name, "cat", choices=choices, nested=nested)
    parts = spec.split(":")
    log = parts[0] == "log"
    parts = parts[1:] if log else parts
    if parts and parts[0] in ("int", "float"):
        if parts[0] != fkind:
            raise ContextLMError(f"{where}: {name} is a{'n' if fkind == 'int' else ''} {fkind} setting, "
                                 f"not {parts[0]}")
        parts = parts[1:]
    if fkind not in ("int", "float"):
        raise ContextLMError(f"{where}: {name} is a {fkind} setting; give its choices: {name}=cat:A,B")
    if len(parts) != 2:
        raise ContextLMError(f"{where}: {SYNTAX}")
    low, high = (checked(_value(p, fkind, where)) for p in parts)
    if not low < high:
        raise ContextLMError(f"{where}: LOW {low} must be below HIGH {high}")
    if log and low <= 0:
        raise ContextLMError(f"{where}: a log range needs LOW > 0")
    return Param(name, fkind, float(low) if fkind == "float" else int(low),
                 float(high) if fkind == "float" else int(high), log=log, nested=nested)


def parse_params(texts: list[str] | None, kind: str) -> list[Param]:
    params = [parse_param(t, kind) for t in texts or []]
    if not params:
        raise ContextLMError("give at least one --param NAME=RANGE, e.g. --param lr=log:1e-4:1e-2")
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ContextLMError(f"--param {twice[0]} is given twice")
    return params


def trial_settings(kind: str, base: dict[str, Any], params: list[Param], values: dict[str, Any]):
    """The settings object of one trial: `base` with the trial's values put in."""
    d = json.loads(json.dumps(base))
    for p in params:
        if p.nested:
            d[p.nested] = {**(d.get(p.nested) or {}), p.name: values[p.name]}
        else:
            d[p.name] = values[p.name]
    cls, _ = sweep_classes(kind)[0]
    return cls.from_dict(d)


# -- the plan ---------------------------------------------------------------------------------------
@dataclass
class SweepPlan:
    kind: str                                  # 'lm' | 'vae'
    base: dict[str, Any]                       # the fixed settings (to_dict of LMSettings / SentenceVAESettings)
    params: list[Param]
    study: str | Path                          # the SQLite file
    data: str | Path | None = None
    ptb: str | Path | None = None              # VAE only: a PTB folder instead of --data
    trials: int = 20
    jobs: int = 1
    metric: str = ""
    direction: str = ""
    pruner: str = "median"                     # 'median' | 'none'
    prune_startup: int = 5
    prune_warmup: int = 0
    sampler_seed: int | None = None
    best_out: str | Path | None = None         # default: STUDY without .sqlite + '-best'
    runs_dir: str | Path | None = None
    command: dict[str, Any] = field(default_factory=dict)   # the parsed arguments, for the registry

    def __post_init__(self):
        self.metric = self.metric or DEFAULT_METRIC[self.kind]
        self.column = check_metric(self.kind, self.metric)
        self.direction = self.direction or default_direction(self.metric)
        self.study = Path(self.study)
        self.best_out = Path(self.best_out) if self.best_out else default_best_out(self.study)

    @property
    def study_name(self) -> str:
        return self.study.stem

    @property
    def url(self) -> str:
        return f"sqlite:///{self.study.resolve()}"

    def identity(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """What a resumed study must share with this command (not --trials, --jobs, the pruner)."""
        return {"kind": self.kind, "metric": self.metric, "direction": self.direction,
                "params": sorted(p.spec() for p in self.params), "base": self.base,
                "data": [d["sha256"] for d in data]}


def default_best_out(study: Path) -> Path:
    return study.with_name(f"{study.stem}-best")


def study_path(path: str | Path, flag: str = "--study") -> Path:
    path = Path(path)
    if path.suffix.lower() not in (".sqlite", ".db", ".sqlite3"):
        raise ContextLMError(f"{flag} {path}: name a SQLite file ending in .sqlite (e.g. runs/sweeps/lm.sqlite)")
    if path.is_dir():
        raise ContextLMError(f"{flag} {path}: is a folder; name a file such as {path / 'study.sqlite'}")
    return path


def storage(url: str):
    import optuna
    # several worker processes write one SQLite file: wait for its lock instead of failing
    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})


@contextmanager
def file_lock(path: Path, what: str, wait: bool = False):
    """An exclusive `flock` on `path` (refused at once unless `wait`)."""
    import fcntl
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise ContextLMError(f"{what} is in use by another process ({path}); wait for it to end") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finished(study) -> list:
    from optuna.trial import TrialState
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))


def _open_study(plan: SweepPlan, data: list[dict[str, Any]], log: Callable[[str], None]):
    """Create or resume the study; refuse one made by another command; fail what a killed sweep left running."""
    import optuna
    from optuna.trial import TrialState
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    plan.study.parent.mkdir(parents=True, exist_ok=True)
    st = storage(plan.url)
    try:
        study = optuna.create_study(storage=st, study_name=plan.study_name, direction=plan.direction,
                                    load_if_exists=True)
    except ValueError as e:   # e.g. a multi-objective study of the same name
        raise ContextLMError(f"--study {plan.study}: {e}") from None
    wanted = plan.identity(data)
    saved = study.user_attrs.get(SWEEP_ATTR)
    if saved is None:
        if study.trials:
            raise ContextLMError(f"--study {plan.study}: study {plan.study_name!r} has trials but was not made by "
                                 f"`contextlm sweep`; use another --study file")
        study.set_user_attr(SWEEP_ATTR, {**wanted, "token": secrets.token_hex(8), "created": time.time()})
    else:
        diff = [k for k in wanted if json.dumps(saved.get(k), sort_keys=True) != json.dumps(wanted[k], sort_keys=True)]
        if diff:
            raise ContextLMError(f"--study {plan.study}: made by a sweep with other {', '.join(diff)}; "
                                 f"rerun that command to resume it, or use another --study file")
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING))
    for t in stale:   # the study lock is ours: nobody else is running these
        st.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
    if stale:
        log(f"marked {len(stale)} trial(s) left running by an interrupted sweep as failed "
            f"(#{', #'.join(str(t.number) for t in stale)}); they are replaced")
    return study


def _check_data(plan: SweepPlan) -> None:
    """Read the corpus once with the base settings: a wrong file or column fails before any trial."""
    if plan.kind == "lm":
        from ..lm.settings import LMSettings
        from ..lm.train import load_lm_corpus
        load_lm_corpus(plan.data, LMSettings.from_dict(plan.base), verbose=False)
    else:
        from ..vae.settings import SentenceVAESettings
        from ..vae.train import sentence_table
        sentence_table(SentenceVAESettings.from_dict(plan.base), data=plan.data, ptb=plan.ptb)


def run_sweep(plan: SweepPlan, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the trials the study lacks (up to `plan.trials` finished ones) in `plan.jobs`
    processes; return a summary (counts, best trial, best folder)."""
    from .session import data_digests
    data = data_digests([plan.data, plan.ptb])
    with file_lock(plan.study.with_name(f".{plan.study.name}.lock"), f"study {plan.study}"):
        study = _open_study(plan, data, log)
        done = len(_finished(study))
        missing = plan.trials - done
        if missing <= 0:
            log(f"{plan.study}: {done} finished trials already (--trials {plan.trials}); nothing to run")
            return summary(plan)
        _check_data(plan)
        jobs = min(plan.jobs, missing)
        shares = [missing // jobs + (i < missing % jobs) for i in range(jobs)]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // jobs)
        log(f"{plan.study}: {done} finished trials; running {missing} more in {jobs} process(es) of {threads} "
            f"thread(s); {plan.direction} {plan.metric}")
        cfg = _worker_config(plan, data)
        if jobs == 1:
            _worker(cfg, shares[0], 0, threads, in_process=True)
        else:
            _spawn(cfg, shares, threads)
    return summary(plan)


def _worker_config(plan: SweepPlan, data) -> dict[str, Any]:
    return {"kind": plan.kind, "base": plan.base, "params": [vars(p) for p in plan.params],
            "url": plan.url, "study": str(plan.study), "name": plan.study_name, "data": str(plan.data) if plan.data else None,
            "ptb": str(plan.ptb) if plan.ptb else None, "metric": plan.metric, "column": plan.column,
            "direction": plan.direction, "pruner": plan.pruner, "prune_startup": plan.prune_startup,
            "prune_warmup": plan.prune_warmup, "sampler_seed": plan.sampler_seed, "best_out": str(plan.best_out),
            "runs_dir": str(plan.runs_dir) if plan.runs_dir else None, "digests": data, "command": plan.command}


def _spawn(cfg: dict[str, Any], shares: list[int], threads: int) -> None:
    import multiprocessing as mp
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_worker, args=(cfg, n, i, threads), name=f"sweep-worker-{i}")
             for i, n in enumerate(shares)]
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=30)
        raise
    failed = [f"worker {i} (exit code {p.exitcode})" for i, p in enumerate(procs) if p.exitcode != 0]
    if failed:
        raise ContextLMError(f"sweep {cfg['study']}: {', '.join(failed)} stopped early (its error is above); "
                             f"rerun the same command to run the missing trials")


def _worker(cfg: dict[str, Any], n_trials: int, index: int, threads: int, in_process: bool = False) -> None:
    """One worker: `study.optimize` for its share of trials (Optuna's storage hands out trials)."""
    import optuna
    import torch
    torch.set_num_threads(threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = cfg["sampler_seed"]
    sampler = optuna.samplers.TPESampler(seed=None if seed is None else seed + index)
    pruner = (optuna.pruners.MedianPruner(n_startup_trials=cfg["prune_startup"], n_warmup_steps=cfg["prune_warmup"])
              if cfg["pruner"] == "median" else optuna.pruners.NopPruner())
    study = optuna.load_study(study_name=cfg["name"], storage=storage(cfg["url"]), sampler=sampler, pruner=pruner)
    objective = Objective(cfg)

    def said(study, trial):
        value = "" if trial.value is None else f" {cfg['metric']} {trial.value:.4g}"
        params = ", ".join(f"{k}={_short(v)}" for k, v in trial.params.items())
        print(f"trial #{trial.number} {trial.state.name.lower()}{value} ({params})"
              + (f" [worker {index}]" if not in_process else ""), flush=True)

    try:
        study.optimize(objective, n_trials=n_trials, catch=(ContextLMError,), callbacks=[said])
    except KeyboardInterrupt:
        if in_process:
            raise
        sys.exit(130)


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class Objective:
    """Train one trial through the library trainer; report per epoch; save it when it is the best."""

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg
        self.params = [Param(**{**p, "choices": tuple(p["choices"])}) for p in cfg["params"]]

    def __call__(self, trial) -> float:
        import optuna
        from .pruning import OptunaPruning
        from .registry import RunRecord
        cfg = self.cfg
        values = {p.name: p.suggest(trial) for p in self.params}
        s = trial_settings(cfg["kind"], cfg["base"], self.params, values)   # a bad combination: the trial fails
        trial.set_user_attr("settings", s.to_dict())
        record = RunRecord.start(cfg["kind"], settings=s.to_dict(), runs=cfg["runs_dir"], data=cfg["digests"],
                                 args=_Args(cfg["command"]),
                                 extra={"sweep": {"study": str(Path(cfg["study"]).resolve()), "name": cfg["name"],
                                                  "trial": trial.number}})
        cb = OptunaPruning(trial, cfg["column"])
        try:
            trained, history, metrics, value = (self._lm if cfg["kind"] == "lm" else self._vae)(s, cb)
        except BaseException as e:
            record.stopped("interrupted" if isinstance(e, KeyboardInterrupt) else "failed",
                           str(e).splitlines()[0][:300] if str(e) else type(e).__name__)
            raise
        if cb.pruned is not None:
            record.finish(history, metrics, None, status="pruned")
            raise optuna.TrialPruned(f"pruned after epoch {cb.pruned}")
        record.finish(history, metrics, (cfg["metric"].replace("_", " ", 1), value))
        if not math.isfinite(value):
            raise ContextLMError(f"trial {trial.number}: {cfg['metric']} is {value}")
        if record.id:
            trial.set_user_attr("run_id", record.id)
        self._keep_if_best(trial, s, values, value, trained)
        return value

    def _lm(self, s, cb):
        from ..lm.train import history_frame, load_lm_corpus, train_lm
        corpus = load_lm_corpus(self.cfg["data"], s, verbose=False)
        run = train_lm(corpus, s, cbs=[cb], progress=False, log=lambda m: None)
        metric = self.cfg["metric"]
        final = run.metrics.get("valid", {})
        key = metric.removeprefix("valid_")
        if metric.startswith("valid_") and key in final:     # the number `train lm` reports
            value = float(final[key])
        else:
            value = cb.reported[-1] if cb.reported else float("nan")
        return run, history_frame(run.learn.recorder), run.metrics, value

    def _vae(self, s, cb):
        import pandas as pd
        from .registry import split_history_metrics
        from ..vae.train import epoch_metrics, sentence_table, train_vae
        table = sentence_table(s, data=self.cfg["data"], ptb=self.cfg["ptb"])
        tokenizer = s.tokenizer or ("whitespace" if self.cfg["ptb"] else "fastai")
        learn = train_vae(table, s, tokenizer=tokenizer, cbs=[cb], progress=False)
        per_epoch = epoch_metrics(learn)
        value = float(per_epoch[-1][self.cfg["column"]]) if per_epoch else float("nan")
        return learn, pd.DataFrame(per_epoch), split_history_metrics(per_epoch[-1] if per_epoch else {}), value

    def _keep_if_best(self, trial, s, values, value, trained) -> None:
        """Under a lock: write this trial's model into the best folder when it beats the one there."""
        cfg = self.cfg
        best = Path(cfg["best_out"])
        token = _study_token(trial)
        with file_lock(best.with_name(f".{best.name}.sweep-lock"), f"best folder {best}", wait=True):
            kept = read_best(best)
            if kept and kept.get("token") == token and kept.get("value") is not None:
                better = value < kept["value"] if cfg["direction"] == "minimize" else value > kept["value"]
                if not better:
                    return
            if cfg["kind"] == "lm":
                from ..lm.train import save_lm_run
                save_lm_run(trained, best, overwrite=True, title=f"sweep {cfg['name']} trial {trial.number}")
            else:
                from ..vae.train import save_vae_run
                save_vae_run(trained, best, overwrite=True)
            info = {"study": str(Path(cfg["study"]).resolve()), "name": cfg["name"], "token": token,
                    "trial": trial.number, "metric": cfg["metric"], "direction": cfg["direction"], "value": value,
                    "params": values, "run_id": trial.user_attrs.get("run_id")}
            (best / BEST_FILE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
            trial.set_user_attr("saved_best", True)


class _Args:
    """The sweep command's parsed arguments, as the registry records them (`vars(args)`)."""

    def __init__(self, d: dict[str, Any]):
        self.__dict__.update(d)


def _study_token(trial) -> str | None:
    attrs = trial.study.user_attrs if hasattr(trial, "study") else {}
    return (attrs.get(SWEEP_ATTR) or {}).get("token")


def read_best(best: Path) -> dict[str, Any] | None:
    try:
        return json.loads((Path(best) / BEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# -- results ----------------------------------------------------------------------------------------
def summary(plan: SweepPlan) -> dict[str, Any]:
    import optuna
    study = optuna.load_study(study_name=plan.study_name, storage=storage(plan.url))
    counts: dict[str, int] = {}
    for t in study.trials:
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    out: dict[str, Any] = {"counts": counts, "best": None, "best_out": None}
    try:
        b = study.best_trial
    except ValueError:   # no complete trial
        return out
    out["best"] = {"number": b.number, "value": b.value, "params": b.params}
    kept = read_best(plan.best_out)
    if kept and kept.get("trial") == b.number:
        out["best_out"] = str(plan.best_out)
    return out


def load_sweep_study(path: str | Path, name: str | None = None):
    """The study in the SQLite file `path` (the only one, or `name`)."""
    import optuna
    path = study_path(path, "STUDY")
    if not path.is_file():
        raise ContextLMError(f"{path}: no such study file")
    st = storage(f"sqlite:///{path.resolve()}")
    names = [s.study_name for s in optuna.study.get_all_study_summaries(st, include_best_trial=False)]
    if not names:
        raise ContextLMError(f"{path}: holds no study")
    if name is None:
        if len(names) > 1:
            raise ContextLMError(f"{path}: holds {len(names)} studies ({', '.join(names)}); choose one with --name")
        name = names[0]
    elif name not in names:
        raise ContextLMError(f"{path}: no study {name!r}; it holds {', '.join(names)}")
    return optuna.load_study(study_name=name, storage=st)


def trials_table(study) -> str:
    """number, state, value, params (one column each), seconds; the best trial marked `*`."""
    try:
        best = study.best_trial.number
    except ValueError:
        best = None
    names = sorted({k for t in study.trials for k in t.params})
    metric = (study.user_attrs.get(SWEEP_ATTR) or {}).get("metric", "value")
    head = ["", "#", "state", metric, *names, "seconds"]
    rows = []
    for t in study.trials:
        secs = f"{t.duration.total_seconds():.1f}" if t.duration is not None else ""
        rows.append(["*" if t.number == best else "", str(t.number), t.state.name.lower(),
                     "" if t.value is None else f"{t.value:.4g}",
                     *[_short(t.params[n]) if n in t.params else "" for n in names], secs])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head, *rows])


def importance_note(study) -> str | None:
    """Why the parameter importance cannot be computed, or None when it can."""
    from optuna.trial import TrialState
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(complete) < 2:
        return f"needs at least 2 completed trials (the study has {len(complete)})"
    varying = [k for k in {k for t in complete for k in t.params}
               if len({json.dumps(t.params.get(k)) for t in complete}) > 1]
    if not varying:
        return "the completed trials all share the same parameter values"
    return None


def plot_study(study, out_dir: Path, stem: str) -> tuple[list[Path], str | None]:
    """The optimisation-history and parameter-importance PNGs (replaced); the note when the
    importance cannot be computed."""
    import warnings
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm
    out_dir.mkdir(parents=True, exist_ok=True)
    written, note = [], None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # Optuna's ExperimentalWarning on the matplotlib plots
        ax = ovm.plot_optimization_history(study)
        path = out_dir / f"{stem}-history.png"
        ax.figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(ax.figure)
        written.append(path)
        note = importance_note(study)
        (out_dir / f"{stem}-importance.png").unlink(missing_ok=True)   # never an earlier, stale one
        if note is None:
            try:
                ax = ovm.plot_param_importances(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as e:
                note = f"could not be computed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            else:
                path = out_dir / f"{stem}-importance.png"
                ax.figure.savefig(path, dpi=100, bbox_inches="tight")
                plt.close(ax.figure)
                written.append(path)
    return written, note
