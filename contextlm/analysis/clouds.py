"""Word clouds: one PNG per level, and one picture with the levels side by side,
each labelled in its own colour with its most distinctive words underneath.

Words are drawn in the level's colour, darker for the most frequent, so two clouds can
be told apart at a glance (purple = low, green = high; labels such as genres get one
distinct colour each).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

DPI = 100


@dataclass
class Panel:
    """What one level contributes to the side-by-side picture: one cloud per row."""

    title: str
    color: str
    images: Sequence[np.ndarray]           # H x W x 3 each, from `cloud_image`
    subtitle: str = ""
    distinctive: Sequence[tuple[str, float]] = field(default_factory=list)  # (word, z)


def _font() -> str:
    """A bold sans font shipped with matplotlib (always installed alongside wordcloud)."""
    import matplotlib
    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf")


def _shades(freqs: Mapping[str, float], color: str):
    """A wordcloud colour function: the level colour, lighter for less frequent words."""
    from matplotlib.colors import to_rgb
    base = np.array(to_rgb(color))
    ranked = sorted(freqs, key=lambda w: -freqs[w])
    rank = {w: i / max(len(ranked) - 1, 1) for i, w in enumerate(ranked)}

    def color_func(word, font_size=None, position=None, orientation=None, random_state=None, **kw):
        mix = 0.55 * rank.get(word, 1.0) ** 0.7  # up to 55% white for the rarest words
        r, g, b = (base * (1 - mix) + mix) * 255
        return f"rgb({int(r)}, {int(g)}, {int(b)})"
    return color_func


def cloud_image(freqs: Mapping[str, float], color: str, width: int = 800, height: int = 400,
                seed: int = 0, max_words: int = 150, empty: str = "no words left after filtering") -> np.ndarray:
    """Draw a cloud of `freqs` (word -> weight) as an RGB array of `height` x `width`.
    With no words, a blank image saying `empty`."""
    from wordcloud import WordCloud
    freqs = {w: float(f) for w, f in freqs.items() if f > 0}
    if not freqs:
        from PIL import Image, ImageDraw, ImageFont
        img = Image.new("RGB", (width, height), "white")
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(_font(), max(12, height // 16))
        draw.text((width // 2, height // 2), empty, fill="#888888", font=font, anchor="mm")
        return np.asarray(img)
    wc = WordCloud(width=width, height=height, background_color="white", max_words=max_words,
                   random_state=seed, font_path=_font(), prefer_horizontal=0.92, margin=3,
                   relative_scaling=0.5, min_font_size=8, collocations=False,
                   color_func=_shades(freqs, color))
    return wc.generate_from_frequencies(freqs).to_array()


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB array as a PNG of exactly its size."""
    from PIL import Image
    path = Path(path)
    Image.fromarray(image).save(path, format="PNG")
    return path


def _wrap_items(items: Sequence[str], width: int, max_lines: int = 2) -> list[str]:
    """Join items with spaces into at most `max_lines` lines of `width` characters,
    never splitting an item."""
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 3 + len(item) <= width:
            lines[-1] += "   " + item
        elif len(lines) < max_lines:
            lines.append(item)
        else:
            break
    return lines


def side_by_side(panels: Sequence[Panel], path: str | Path, title: str = "", footer: str = "",
                 row_titles: Sequence[str] = ()) -> Path:
    """Put the panels' clouds next to each other (one row per cloud kind, captioned by
    `row_titles`), each level titled in its colour with its distinctive words below,
    and save as one PNG."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    h, w = panels[0].images[0].shape[:2]
    n_rows = len(panels[0].images)
    cap = 26 if row_titles else 0
    pad, top, head, below, foot = 24, (64 if title else 16), 58, 84, (34 if footer else 8)
    n = len(panels)
    fig_w, fig_h = n * w + (n + 1) * pad, top + head + n_rows * (cap + h) + below + foot
    fig = plt.figure(figsize=(fig_w / DPI, fig_h / DPI), dpi=DPI, facecolor="white")

    def box(x: float, y: float, bw: float, bh: float):  # pixel box (from top-left) -> axes
        ax = fig.add_axes([x / fig_w, 1 - (y + bh) / fig_h, bw / fig_w, bh / fig_h])
        ax.set_axis_off()
        return ax

    if title:
        fig.text(0.5, 1 - 34 / fig_h, title, ha="center", va="center", fontsize=19, weight="bold", color="#222222")
    for i, p in enumerate(panels):
        x = pad + i * (w + pad)
        ax = box(x, top, w, head)
        ax.add_patch(Rectangle((0, 0.08), 1, 0.12, color=p.color, transform=ax.transAxes))
        ax.text(0.5, 0.66, p.title, ha="center", va="center", fontsize=17, weight="bold", color=p.color,
                transform=ax.transAxes)
        if p.subtitle:
            ax.text(0.5, 0.34, p.subtitle, ha="center", va="center", fontsize=10, color="#555555",
                    transform=ax.transAxes)
        y = top + head
        for r, image in enumerate(p.images):
            if row_titles:
                box(x, y, w, cap).text(0.0, 0.3, row_titles[r], ha="left", va="center", fontsize=10.5,
                                       style="italic", color="#666666")
                y += cap
            box(x, y, w, h).imshow(image, interpolation="nearest")
            y += h
        ax = box(x, y, w, below)
        if p.distinctive:
            ax.text(0.0, 0.88, "most distinctive (log-odds z):", ha="left", va="top", fontsize=10,
                    color="#555555", transform=ax.transAxes)
            lines = _wrap_items([f"{word}\u00a0{z:.1f}" for word, z in p.distinctive], max(20, w // 9))
            ax.text(0.0, 0.62, "\n".join(lines), ha="left", va="top", fontsize=11.5, weight="bold",
                    color=p.color, transform=ax.transAxes, linespacing=1.5)
        else:
            ax.text(0.0, 0.88, "no word stands out here (all z < 1.96)", ha="left", va="top", fontsize=10,
                    color="#888888", transform=ax.transAxes)
    if footer:
        fig.text(pad / fig_w, 12 / fig_h, footer, ha="left", va="bottom", fontsize=9, color="#777777")
    path = Path(path)
    fig.savefig(path, dpi=DPI, facecolor="white")
    plt.close(fig)
    return path
