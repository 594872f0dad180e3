"""Hyperparameter sweeps with Optuna: a real study in a SQLite file, resumable, run by N
worker processes, bad trials pruned after any epoch.

    params = parse_params(["lr=log:1e-4:1e-2", "drop_mult=0.2:1.0"], "lm")
    run_sweep(SweepPlan(kind="lm", data="songs.csv", base=LMSettings(...).to_dict(), params=params,
                        study="runs/sweeps/lm.sqlite", trials=20, jobs=2, metric="valid_perplexity"))

- `--param` names are the settings' field names (`LMSettings`; for the VAE,
  `SentenceVAESettings` and the `VAEConfig` fields that go into `model`), and a range is
  checked against the field's declared bounds before any work.
- Resuming: `--trials` counts the study's finished (complete or pruned) trials; a rerun runs
  only the missing ones.
- Several machines: `--storage URL` (any database Optuna supports: `sqlite:///file.db` on one
  machine, `postgresql://user@host/db` or `mysql+pymysql://...` for many) instead of `--study
  FILE`. Every worker runs the same command; the database hands each trial to one worker, each
  worker stops once the study holds `--trials` finished trials (a concurrent one may finish a
  few more), and a worker that dies is noticed by Optuna's heartbeat (its trial fails after
  `GRACE_S` and is replaced). No study lock and no failing of other workers' running trials.
  The URL is never printed or recorded with its password. Trials a killed sweep left `RUNNING` are marked failed (and
  replaced). A study made with other settings, parameters, metric or data is refused.
- Each trial trains through the library trainer (`train_lm` / `train_vae`, no progress
  bars) with `OptunaPruning` (contextlm/experiments/pruning.py) and is recorded in the run
  registry (status `pruned` for pruned ones). A trial that beats the best saved so far
  writes its model folder into the best folder (under a lock: no retraining at the end, no
  folder per trial); `sweep.json` in it names the trial, its value and parameters.

The parameters are in sweep_params.py, the study file in sweep_study.py, the results in
sweep_report.py. Torch- and Optuna-free at import (the parameter checks run before anything heavy loads).
"""
from __future__ import annotations

import json
import math
import os
import sys
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ContextLMError
from .sweep_params import DEFAULT_METRIC, Param, check_metric, default_direction, trial_settings
from .sweep_report import short_value, summary
from .sweep_study import (BEST_FILE, SWEEP_ATTR, check_data, file_lock, finished_trials, open_study, read_best,
                          redact_url, storage)


# -- the plan ---------------------------------------------------------------------------------------
@dataclass
class SweepPlan:
    kind: str                                  # 'lm' | 'vae'
    base: dict[str, Any]                       # the fixed settings (to_dict of LMSettings / SentenceVAESettings)
    params: list[Param]
    study: str | Path | None = None            # the SQLite file (or `storage_url`)
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
    storage_url: str | None = None             # a database several workers (machines) share
    name: str | None = None                    # the study's name in `storage_url` (default contextlm-KIND)

    def __post_init__(self):
        self.metric = self.metric or DEFAULT_METRIC[self.kind]
        self.column = check_metric(self.kind, self.metric)
        self.direction = self.direction or default_direction(self.metric)
        if (self.study is None) == (self.storage_url is None):
            raise ContextLMError("give exactly one of --study FILE or --storage URL")
        self.study = Path(self.study) if self.study is not None else None
        self.name = self.name or (self.study.stem if self.study else f"contextlm-{self.kind}")
        self.best_out = Path(self.best_out) if self.best_out else default_best_out(self)

    @property
    def shared(self) -> bool:
        """The study lives in a database other workers may use at the same time."""
        return self.storage_url is not None

    @property
    def study_name(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return self.storage_url or f"sqlite:///{self.study.resolve()}"

    @property
    def flag(self) -> str:
        return "--storage" if self.shared else "--study"

    @property
    def where(self) -> str:
        """The study as printed and recorded (a URL without its password)."""
        return f"{redact_url(self.url)} (study {self.name})" if self.shared else str(self.study)

    def identity(self, data: list[dict[str, Any]]) -> dict[str, Any]:
        """What a resumed study must share with this command (not --trials, --jobs, the pruner)."""
        return {"kind": self.kind, "metric": self.metric, "direction": self.direction,
                "params": sorted(p.spec() for p in self.params), "base": self.base,
                "data": [d["sha256"] for d in data]}


def default_best_out(plan: SweepPlan) -> Path:
    if plan.study is not None:
        return plan.study.with_name(f"{plan.study.stem}-best")
    return Path("runs") / "sweeps" / f"{plan.name}-best"




def run_sweep(plan: SweepPlan, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the trials the study lacks (up to `plan.trials` finished ones) in `plan.jobs`
    processes; return a summary (counts, best trial, best folder)."""
    from .session import data_digests
    data = data_digests([plan.data, plan.ptb])
    lock = (nullcontext() if plan.shared else
            file_lock(plan.study.with_name(f".{plan.study.name}.lock"), f"study {plan.study}"))
    with lock:
        study = open_study(plan, data, log)
        done = len(finished_trials(study))
        missing = plan.trials - done
        if missing <= 0:
            log(f"{plan.where}: {done} finished trials already (--trials {plan.trials}); nothing to run")
            return summary(plan)
        check_data(plan)
        jobs = min(plan.jobs, missing)
        shares = [missing // jobs + (i < missing % jobs) for i in range(jobs)]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        threads = max(1, cores // jobs)
        log(f"{plan.where}: {done} finished trials; running {missing} more in {jobs} process(es) of {threads} "
            f"thread(s); {plan.direction} {plan.metric}")
        cfg = _worker_config(plan, data)
        if jobs == 1:
            _worker(cfg, shares[0], 0, threads, in_process=True)
        else:
            _spawn(cfg, shares, threads)
    return summary(plan)


def _worker_config(plan: SweepPlan, data) -> dict[str, Any]:
    return {"kind": plan.kind, "base": plan.base, "params": [vars(p) for p in plan.params],
            "url": plan.url, "shared": plan.shared, "trials": plan.trials,
            "study": plan.where if plan.shared else str(plan.study.resolve()), "name": plan.study_name, "data": str(plan.data) if plan.data else None,
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
    study = optuna.load_study(study_name=cfg["name"], storage=storage(cfg["url"], shared=cfg["shared"]),
                              sampler=sampler, pruner=pruner)
    objective = Objective(cfg)

    def said(study, trial):
        value = "" if trial.value is None else f" {cfg['metric']} {trial.value:.4g}"
        params = ", ".join(f"{k}={short_value(v)}" for k, v in trial.params.items())
        print(f"trial #{trial.number} {trial.state.name.lower()}{value} ({params})"
              + (f" [worker {index}]" if not in_process else ""), flush=True)

    callbacks = [said]
    if cfg["shared"]:   # other workers finish trials too: stop once the study holds enough
        from optuna.study import MaxTrialsCallback
        from optuna.trial import TrialState
        callbacks.append(MaxTrialsCallback(cfg["trials"], states=(TrialState.COMPLETE, TrialState.PRUNED)))
    try:
        study.optimize(objective, n_trials=n_trials, catch=(ContextLMError,), callbacks=callbacks)
    except KeyboardInterrupt:
        if in_process:
            raise
        sys.exit(130)



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
                                 extra={"sweep": {"study": cfg["study"], "name": cfg["name"],
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
        from ..lm.train import load_lm_corpus, train_lm
        from ..training import history_frame
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
            info = {"study": cfg["study"], "name": cfg["name"], "token": token,
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
