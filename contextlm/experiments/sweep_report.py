"""Sweep results: the run summary, the trials table and the plots of `contextlm sweep show`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .sweep_study import SWEEP_ATTR, read_best, storage

if TYPE_CHECKING:
    from .sweep import SweepPlan


def short_value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def summary(plan: SweepPlan) -> dict[str, Any]:
    import optuna
    study = optuna.load_study(study_name=plan.study_name, storage=storage(plan.url, shared=plan.shared))
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
                     *[short_value(t.params[n]) if n in t.params else "" for n in names], secs])
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
