"""Write a Comparison out: clouds (per level and side by side), CSVs, a JSON summary,
and the table printed to the terminal."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Mapping

import pandas as pd

from ..errors import ContextLMError
from .clouds import Panel, cloud_image, save_image, side_by_side
from .compare import Comparison

LEVEL_COLUMNS = ["level", "feature", "value", "low", "high", "color", "n_docs", "n_words", "n_kept",
                 "n_distinct", "mean_pred", "sd_pred", "accuracy"]
Accuracy = Mapping[str, float]  # label levels: level -> share of its texts a classifier reads as that level


def _num(n: int) -> str:
    return f"{n:,}"


def check_out_folder(out: str | Path, flag: str = "--out") -> Path:
    """Refuse at once an output that cannot become the report's folder (an existing file,
    or a file where a parent folder should be): found only at writing time, it would throw
    away all the sampling."""
    out = Path(out)
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                where = "is a file" if p == out else f"{p} is a file"
                raise ContextLMError(f"{flag} {out}: {where}; name a folder (the report writes clouds.png, "
                                     f"words.csv, levels.csv, ... into it)")
            break
    return out


def overall_accuracy(cmp: Comparison, accuracy: Accuracy) -> float | None:
    """The share of all texts read as their own level (levels weighted by their texts)."""
    n = {lb: len(cmp.texts[lb]) for lb in accuracy}
    total = sum(n.values())
    return sum(accuracy[lb] * n[lb] for lb in accuracy) / total if total else None


def levels_table(cmp: Comparison, accuracy: Accuracy | None = None) -> pd.DataFrame:
    """One row per level: sizes and (if scored) the mean predicted feature, or for label
    levels the share of texts the classifier reads as that label."""
    rows = []
    for lv in cmp.levels:
        s = cmp.scores
        rows.append({"level": lv.label, "feature": lv.feature, "value": lv.value,
                     "low": lv.bounds[0] if lv.bounds else None, "high": lv.bounds[1] if lv.bounds else None,
                     "color": lv.color, "n_docs": len(cmp.texts[lv.label]), "n_words": cmp.n_words[lv.label],
                     "n_kept": cmp.n_kept(lv.label), "n_distinct": len(cmp.counts[lv.label]),
                     "mean_pred": s.mean[lv.label] if s else None, "sd_pred": s.std[lv.label] if s else None,
                     "accuracy": accuracy.get(lv.label) if accuracy else None})
    return pd.DataFrame(rows, columns=LEVEL_COLUMNS)


def _score_line(cmp: Comparison, label: str, accuracy: Accuracy | None) -> str | None:
    """How a level scored, for its panel and the terminal (None when not scored)."""
    if accuracy and label in accuracy:
        return f"read as {cmp.levels[cmp.labels.index(label)].value}: {accuracy[label]:.0%}"
    if cmp.scores:
        return f"predicted {cmp.feature} {cmp.scores.mean[label]:.3f}"
    return None


MIN_Z = 1.96  # two-sided 5%: a word "stands out" at a level from here on


def write_report(cmp: Comparison, out: str | Path, *, title: str = "", footer: str = "",
                 width: int = 800, height: int = 400, max_words: int = 150, seed: int = 0,
                 n_distinctive: int = 8, extra: dict | None = None,
                 accuracy: Accuracy | None = None) -> dict[str, Path]:
    """Write under `out`: clouds.png (levels side by side; top row sized by frequency,
    bottom row by log-odds z >= 1.96), cloud_<level>.png and distinctive_<level>.png,
    words.csv, levels.csv, summary.json and samples_<level>.txt. Returns the paths by name.
    `accuracy`: per label level, the share of its texts a classifier reads as that label."""
    out = check_out_folder(out)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    panels = []
    for lv in cmp.levels:
        freq = cloud_image(dict(cmp.counts[lv.label]), lv.color, width=width, height=height, seed=seed,
                           max_words=max_words)
        dist = cloud_image(dict(cmp.distinctive(lv.label, max_words, MIN_Z)), lv.color, width=width,
                           height=height, seed=seed, max_words=max_words,
                           empty=f"no word stands out (all z < {MIN_Z})")
        written[f"cloud:{lv.label}"] = save_image(freq, out / f"cloud_{lv.slug}.png")
        written[f"distinctive:{lv.label}"] = save_image(dist, out / f"distinctive_{lv.slug}.png")
        sub = f"{_num(len(cmp.texts[lv.label]))} texts, {_num(cmp.n_words[lv.label])} words"
        if score := _score_line(cmp, lv.label, accuracy):
            sub += f" · {score}"
        panels.append(Panel(title=lv.label, color=lv.color, images=[freq, dist], subtitle=sub,
                            distinctive=cmp.distinctive(lv.label, n_distinctive, MIN_Z)))
    written["clouds"] = side_by_side(panels, out / "clouds.png", title=title, footer=footer, row_titles=[
        "most frequent words (stopwords removed)",
        f"words used more here than at the other levels (log-odds z ≥ {MIN_Z})"])
    written["words"] = out / "words.csv"
    cmp.words_table().to_csv(written["words"], index=False, float_format="%.4f")
    written["levels"] = out / "levels.csv"
    table = levels_table(cmp, accuracy)
    table.to_csv(written["levels"], index=False, float_format="%.4f")
    for lv in cmp.levels:
        path = out / f"samples_{lv.slug}.txt"
        path.write_text("\n".join(t.replace("\n", " ") for t in cmp.texts[lv.label]) + "\n", encoding="utf-8")
        written[f"samples:{lv.label}"] = path
    summary = {"feature": cmp.feature, "categorical": cmp.levels[0].categorical,
               "levels": table.to_dict(orient="records"),
               "auc_lowest_vs_highest": cmp.scores.auc if cmp.scores else None,
               "accuracy": overall_accuracy(cmp, accuracy) if accuracy else None,
               "distinctive": {lb: cmp.distinctive(lb, n_distinctive, MIN_Z) for lb in cmp.labels}, **(extra or {})}
    written["summary"] = out / "summary.json"
    written["summary"].write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
    return written


def terminal_table(cmp: Comparison, top: int = 12, col: int = 26, accuracy: Accuracy | None = None) -> str:
    """Top words and most distinctive words per level, levels side by side."""
    labels = cmp.labels
    def row(cells: list[str]) -> str:
        return "  ".join(textwrap.shorten(c, col, placeholder="…").ljust(col) for c in cells).rstrip()
    lines = [row(labels), row(["-" * (col - 2)] * len(labels))]
    lines.append(row([f"{_num(cmp.n_words[lb])} words, {_num(cmp.n_kept(lb))} kept" for lb in labels]))
    if cmp.scores or accuracy:
        lines.append(row([_score_line(cmp, lb, accuracy) or "" for lb in labels]))
    lines += ["", row(["top words (count)"] * len(labels))]
    tops = [cmp.top_words(lb, top) for lb in labels]
    for i in range(top):
        lines.append(row([f"{t[i][0]} {t[i][1]}" if i < len(t) else "" for t in tops]))
    lines += ["", row(["distinctive (z >= 1.96)"] * len(labels))]
    dist = [cmp.distinctive(lb, top) for lb in labels]
    for i in range(max((len(d) for d in dist), default=0) or 1):
        lines.append(row([f"{d[i][0]} {d[i][1]:+.1f}" if i < len(d) else ("(none)" if i == 0 else "")
                          for d in dist]))
    if cmp.scores and cmp.scores.auc is not None:
        lines += ["", f"AUC {labels[0]} vs {labels[-1]} (text->{cmp.feature} regressor): {cmp.scores.auc:.3f}"
                      "  (0.5 = indistinguishable, 1 = always told apart)"]
    if accuracy:
        lines += ["", f"read as their own {cmp.feature} by the text->{cmp.feature} classifier: "
                      f"{overall_accuracy(cmp, accuracy):.1%} of all texts"]
    return "\n".join(lines)
