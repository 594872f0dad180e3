"""What `contextlm runs list` and `runs compare` show: the runs table, final metrics and the
settings that differ side by side, and the loss (and KL) curves of several runs in one PNG."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from .registry import runs_dir
from .registry_lookup import read_history, status_of


def flat_metrics(metrics: Any, prefix: str = "") -> dict[str, float]:
    """`{"valid": {"perplexity": 3.1}}` -> `{"valid_perplexity": 3.1}` (numbers only)."""
    out: dict[str, float] = {}
    if isinstance(metrics, dict):
        for k, v in metrics.items():
            out.update(flat_metrics(v, f"{prefix}{k}_"))
    elif isinstance(metrics, (int, float)) and not isinstance(metrics, bool):
        out[prefix.rstrip("_")] = float(metrics)
    return out


def _flat_settings(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings (the VAE's `model` overrides) as dotted names: `model.latent_sz`."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat_settings(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.4e}"
    return str(v)


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [list(map(str, header))] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def runs_table(infos: Sequence[dict[str, Any]]) -> str:
    rows = []
    for i in infos:
        head = i.get("headline") or {}
        data = i.get("data") or []
        name = Path(data[0]["path"]).name + (f" +{len(data) - 1}" if len(data) > 1 else "") if data else "-"
        epochs = (i.get("settings") or {}).get("epochs")
        metric = f"{head['name']} {_fmt(head['value'])}" if head else "-"
        rows.append([i["id"], i.get("kind", "?"), status_of(i), (i.get("started") or "").replace("T", " "),
                     epochs, metric, name, i.get("out") or "-"])
    return format_table(["ID", "KIND", "STATUS", "STARTED", "EPOCHS", "METRIC", "DATA", "MODEL"], rows)


def compare_table(infos: Sequence[dict[str, Any]]) -> str:
    """Final metrics side by side (one column per run), then the settings that differ."""
    names = [i["id"] for i in infos]
    flat = [flat_metrics(i.get("metrics") or {}) for i in infos]
    keys = sorted(set().union(*flat)) if flat else []
    lines = [format_table(["metric", *names], [[k, *[f.get(k) for f in flat]] for k in keys])]
    settings = [_flat_settings(i.get("settings") or {}) for i in infos]
    differ = sorted({k for s in settings for k in s if len({json.dumps(t.get(k), sort_keys=True) for t in settings}) > 1})
    if differ:
        lines += ["", format_table(["setting", *names],
                                   [[k, *[json.dumps(s.get(k)) if k in s else "-" for s in settings]] for k in differ])]
    return "\n".join(lines)


def plot_compare(infos: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Training and validation loss per epoch of every run in one axes (train solid, valid
    dashed, one colour per run) and, when any run has a `kl` column (VAEs), KL per epoch beside it."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    histories = [read_history(i) for i in infos]
    has_kl = any("kl" in h.columns for h in histories)
    fig, axes = plt.subplots(1, 2 if has_kl else 1, figsize=(11 if has_kl else 6.5, 4.2), squeeze=False)
    ax_loss = axes[0][0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (info, h) in enumerate(zip(infos, histories)):
        c = colours[n % len(colours)]
        if h.empty:
            continue
        x = (h["epoch"] + 1) if "epoch" in h.columns else range(1, len(h) + 1)
        for col, style in (("train_loss", "-"), ("valid_loss", "--")):
            if col in h.columns:
                ax_loss.plot(x, h[col], style, marker="o", ms=3, color=c, label=f"{info['id']} {col.split('_')[0]}")
        if has_kl and "kl" in h.columns:
            axes[0][1].plot(x, h["kl"], "-", marker="o", ms=3, color=c, label=info["id"])
    from matplotlib.ticker import MaxNLocator
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss (train solid, valid dashed)")
    ax_loss.legend(fontsize=7)
    if has_kl:
        axes[0][1].set(xlabel="epoch", ylabel="KL (nats per sentence, valid)", title="KL")
        axes[0][1].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def default_compare_png(infos: Sequence[dict[str, Any]], runs: str | Path | None = None) -> Path:
    tags = "-".join(re.sub(r"[^A-Za-z0-9]+", "", i["id"].rsplit("-", 1)[-1]) for i in infos)
    return runs_dir(runs) / f"compare-{tags}.png"
