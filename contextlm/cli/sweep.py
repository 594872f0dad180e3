"""`contextlm sweep lm|vae` (Optuna hyperparameter sweeps, contextlm/experiments/sweep*.py) and
`contextlm sweep show` (the trials table and the plots). Optuna, torch and fastai load only
inside the command functions."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..settings import number
from ._common import add_command, wrote

PARAM_HELP = ("a setting to sweep, by its field name (repeatable): NAME=LOW:HIGH (uniform), NAME=log:LOW:HIGH "
              "(log scale), NAME=int:LOW:HIGH, NAME=cat:A,B,... (choices, e.g. true,false); ranges must lie within "
              "the setting's bounds")


def register(sub, groups) -> None:
    from ..settings import add_config_argument, add_settings_arguments
    from ..lm.settings import LMSettings
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    group = sub.add_parser(
        "sweep", help="hyperparameter sweeps with Optuna (resumable SQLite studies, parallel jobs, pruning)",
        description="Search settings with Optuna: a study in a SQLite file that a rerun of the same command "
                    "resumes, --jobs worker processes, bad trials pruned after any epoch (median pruner); the best "
                    "trial's model folder and settings.json are kept.",
        epilog="examples:\n"
               "  contextlm sweep lm --data songs.csv --study runs/sweeps/lm.sqlite --param lr=log:1e-4:1e-2 "
               "--param drop_mult=0.2:1.0 --trials 20 --jobs 2\n"
               "  contextlm sweep lm --data songs.csv --storage postgresql://me@db.lab/optuna --study-name lm-titles "
               "--param lr=log:1e-4:1e-2 --trials 40   # the same command on every machine\n"
               "  contextlm sweep show runs/sweeps/lm.sqlite",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ss = group.add_subparsers(dest="sweep_command", metavar="SUBCOMMAND", required=True)

    p = add_command(ss, "lm", "sweep the settings of `train lm` (flags not swept are the fixed base settings)", [
        "contextlm sweep lm --data songs.csv --study runs/sweeps/lm.sqlite --param lr=log:1e-4:1e-2 "
        "--param drop_mult=0.2:1.0 --trials 20 --jobs 2",
        "contextlm sweep lm --data songs.csv --study runs/sweeps/lm.sqlite --param n_layers=int:1:3 "
        "--param context_bias=cat:true,false --features energy --epochs 4 --trials 30",
        "contextlm sweep lm --data songs.csv --study runs/sweeps/lm.sqlite --param lr=log:1e-4:1e-2 "
        "--param drop_mult=0.2:1.0 --trials 30   # the same study, 10 trials more",
    ], _sweep_lm)
    p.add_argument("--data", type=Path, required=True, help="CSV/TSV, JSON/JSONL, Parquet or TXT file")
    _sweep_arguments(p, "lm")
    add_config_argument(p)
    add_settings_arguments(p, LMSettings)

    p = add_command(ss, "vae", "sweep the settings of `train vae` (VAEConfig fields too, e.g. latent_sz)", [
        "contextlm sweep vae --ptb ../shared/data/ptb --study runs/sweeps/vae.sqlite --param lr=log:5e-4:5e-3 "
        "--param latent_sz=int:8:64 --param word_dropout=0:0.5 --trials 20 --jobs 2",
        "contextlm sweep vae --data reviews.csv --sentences --features energy --study runs/sweeps/cvae.sqlite "
        "--param kl_schedule=cat:cyclical,linear --param free_bits=0:1 --metric valid_elbo_ppl",
    ], _sweep_vae)
    src = p.add_argument_group("data (one of --data / --ptb)")
    src.add_argument("--data", type=Path, help="corpus file (CSV/TSV, JSON/JSONL, Parquet, TXT: one text per line)")
    src.add_argument("--ptb", type=Path, metavar="DIR", help="folder with ptb.train/valid/test.txt (whitespace tokens)")
    _sweep_arguments(p, "vae")
    add_config_argument(p)
    add_settings_arguments(p, SentenceVAESettings)
    add_settings_arguments(p, VAEConfig)

    p = add_command(ss, "show", "the trials table (best marked *) and the optimisation-history and "
                                "parameter-importance plots (PNG)", [
        "contextlm sweep show runs/sweeps/lm.sqlite",
        "contextlm sweep show runs/sweeps/lm.sqlite --out-dir docs/",
        "contextlm sweep show --storage postgresql://me@db.lab/optuna --name titles --out-dir docs/",
    ], _show)
    p.add_argument("study", type=Path, metavar="STUDY", nargs="?",
                   help="the study's SQLite file (from `contextlm sweep lm|vae --study`); or --storage")
    p.add_argument("--storage", metavar="URL", help="the database of a shared study (`sweep --storage`)")
    p.add_argument("--name", help="the study in the file or database, when it holds several (default: its only one)")
    p.add_argument("--out-dir", type=Path, metavar="DIR",
                   help="where the PNGs go (default: beside STUDY, as STUDY-history.png and STUDY-importance.png; "
                        "runs/sweeps/NAME-*.png for --storage; replaced)")


def _sweep_arguments(p, kind: str) -> None:
    from ..experiments.sweep_params import DEFAULT_METRIC, METRICS
    g = p.add_argument_group("the sweep")
    g.add_argument("--study", type=Path, metavar="FILE",
                   help="the study's SQLite file (created, or resumed when it exists: --trials counts its finished "
                        "trials); the study is named after the file. One of --study / --storage")
    g.add_argument("--storage", metavar="URL",
                   help="instead of --study: any database Optuna supports, shared by workers on several machines "
                        "that run the same command (sqlite:///runs/sweeps/lm.db, postgresql://user:pass@host/db, "
                        "mysql+pymysql://user:pass@host/db); the password is never printed")
    g.add_argument("--study-name", metavar="NAME",
                   help="the study in --storage (default contextlm-lm / contextlm-vae)")
    g.add_argument("--param", action="append", required=True, metavar="NAME=RANGE", help=PARAM_HELP)
    g.add_argument("--trials", type=number(int, min=1, max=100_000), default=20,
                   help="finished (complete or pruned) trials the study should hold; a rerun runs only the missing "
                        "ones (default 20)")
    g.add_argument("--jobs", type=number(int, min=1, max=256), default=1,
                   help="worker processes, the CPU cores split between them (default 1)")
    g.add_argument("--metric", choices=list(METRICS[kind]), default=DEFAULT_METRIC[kind],
                   help=f"what the trials are compared on, per epoch (default {DEFAULT_METRIC[kind]})")
    g.add_argument("--direction", choices=["minimize", "maximize"],
                   help="default: maximize accuracy, active units and mutual information, minimize the rest")
    g.add_argument("--pruner", choices=["median", "none"], default="median",
                   help="median: stop a trial whose epoch value is worse than the median of earlier trials at that "
                        "epoch (Optuna's MedianPruner; default)")
    g.add_argument("--prune-startup", type=number(int, min=0, max=100_000), default=5,
                   help="trials that are never pruned, before the pruner starts comparing (default 5)")
    g.add_argument("--prune-warmup", type=number(int, min=0, max=100_000), default=0,
                   help="epochs of every trial that are never pruned (default 0)")
    g.add_argument("--sampler-seed", type=number(int, min=0, max=2**32 - 1),
                   help="seed of Optuna's TPE sampler (worker i uses seed + i; default: unseeded)")
    g.add_argument("--best-out", type=Path, metavar="DIR",
                   help="model folder of the best trial, replaced whenever a trial beats it (default: STUDY "
                        "without .sqlite + '-best', e.g. runs/sweeps/lm-best)")
    g.add_argument("--runs-dir", type=Path, metavar="DIR",
                   help="run registry, one entry per trial (default: $CONTEXTLM_RUNS, else runs/)")


def _sweep_lm(args) -> int:
    from ..lm.settings import LMSettings
    from ..settings import settings_from_args
    return _sweep(args, "lm", settings_from_args(LMSettings, args))


def _sweep_vae(args) -> int:
    from ..errors import ContextLMError
    from ..settings import settings_from_args
    from ..vae.config import VAEConfig
    from ..vae.settings import SentenceVAESettings
    if (args.data is None) == (args.ptb is None):
        raise ContextLMError("give exactly one of --data FILE or --ptb DIR")
    return _sweep(args, "vae", settings_from_args(SentenceVAESettings, args, nested={"model": VAEConfig}))


def _sweep(args, kind: str, base) -> int:
    from ..errors import ContextLMError
    from ..experiments.sweep import SweepPlan, run_sweep
    from ..experiments.sweep_params import parse_params, trial_settings
    from ..experiments.sweep_study import check_storage_url, redact_url, study_path
    params = parse_params(args.param, kind)          # before anything heavy loads
    if (args.study is None) == (args.storage is None):
        raise ContextLMError("give exactly one of --study FILE or --storage URL")
    if args.study_name is not None and args.storage is None:
        raise ContextLMError("--study-name names a study in --storage; a --study file names its study after itself")
    study = study_path(args.study) if args.study is not None else None
    storage_url = check_storage_url(args.storage) if args.storage is not None else None
    data = getattr(args, "data", None)
    if data is not None and not Path(data).exists():
        raise ContextLMError(f"--data {data}: no such file")
    # the first choice of every parameter must make valid settings with the base ones
    trial_settings(kind, base.to_dict(), params,
                   {p.name: p.choices[0] if p.kind == "cat" else p.low for p in params})
    command = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}
    if storage_url:
        command["storage"] = redact_url(storage_url)
    plan = SweepPlan(kind=kind, base=base.to_dict(), params=params, study=study, data=data,
                     ptb=getattr(args, "ptb", None), trials=args.trials, jobs=args.jobs, metric=args.metric,
                     direction=args.direction or "", pruner=args.pruner, prune_startup=args.prune_startup,
                     prune_warmup=args.prune_warmup, sampler_seed=args.sampler_seed, best_out=args.best_out,
                     runs_dir=args.runs_dir, command=command, storage_url=storage_url, name=args.study_name)
    from ..experiments.sweep_study import BEST_FILE
    if Path(plan.best_out).exists() and not (Path(plan.best_out) / BEST_FILE).is_file():
        raise ContextLMError(f"--best-out {plan.best_out} exists and is not a sweep's best folder (no {BEST_FILE}); "
                             f"choose another --best-out")
    res = run_sweep(plan)
    counts = ", ".join(f"{n} {state}" for state, n in sorted(res["counts"].items()))
    print(f"\n{plan.where}: {counts or 'no trials'}")
    if res["best"]:
        b = res["best"]
        params_ = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in b["params"].items())
        print(f"best: trial #{b['number']}  {plan.metric} {b['value']:.4g}  ({params_})")
        if res["best_out"]:
            wrote(res["best_out"], "best trial's model (settings.json, sweep.json)")
    else:
        print("no trial completed yet")
    if not plan.shared:
        print(f"see `contextlm sweep show {plan.study}`")
    return 0


def _show(args) -> int:
    from ..errors import ContextLMError
    from ..experiments.sweep_report import plot_study, trials_table
    from ..experiments.sweep_study import load_sweep_study, redact_url
    if (args.study is None) == (args.storage is None):
        raise ContextLMError("give exactly one of STUDY (a SQLite file) or --storage URL")
    study = load_sweep_study(args.study, args.name, url=args.storage)
    where = args.study or redact_url(args.storage)
    if not study.trials:
        print(f"{where}: study {study.study_name!r} has no trials yet")
        return 0
    print(trials_table(study))
    if args.study is not None:
        out_dir, stem = args.out_dir or args.study.parent, args.study.stem
    else:
        out_dir, stem = args.out_dir or Path("runs/sweeps"), study.study_name
    written, note = plot_study(study, out_dir, stem)
    print()
    for path in written:
        wrote(path, "optimisation history" if path.stem.endswith("history") else "parameter importance")
    if note:
        print(f"parameter importance: not plotted, {note}")
    return 0
