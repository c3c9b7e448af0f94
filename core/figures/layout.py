"""How much room text takes in a Plotly figure, and text made to fit it: the arithmetic behind every margin.

Plotly lays a figure out in the browser, so a builder cannot ask how wide a title will be; it can only
predict it. This module is that prediction, one model shared by every builder and by the layout test
(``tests/test_figures_layout.py``), which checks it against what Chromium draws (kaleido's SVG):

* :func:`text_width`: a text's width in px at a font size, from per-character widths of DejaVu Sans,
  whose metrics are Verdana's. Plotly's default fonts are "Open Sans", verdana, arial: a browser
  without Open Sans falls back to Verdana (Windows, macOS) or a narrower Arial; the widest of them is
  the safe guess, so a label that fits here fits in every one of them.
* :func:`wrap`, :func:`fit`, :func:`fit_all`: text broken into lines of a width (at spaces, never
  starting a line with a "·"), or shortened in the middle (``lstm · fast · … · 8ec553``: the head and
  the end, where run labels differ) when more lines would not fit; the full text goes in the hover.
* :func:`legend_rows`, :func:`legend_height`, :func:`text_height`: the room a horizontal legend and a
  block of lines take, with Plotly's own constants and rules (line height 1.3 em, a legend row 19 px,
  an entry's symbol and gaps 45 px beside its text; one row where all fit, else a grid of columns as
  wide as the widest entry, wrapping at the plot area's width; legend groups stacked in columns).
* :data:`NARROW`: the narrowest a chart is drawn (half the main column of the wide layout on a laptop),
  the width builders fit their text to (:data:`THIRD` for a chart in one of three columns, :data:`WIDE`
  for one across the column); :data:`EXPORT`: the width of the PNG and SVG exports.
* :func:`plot_box`, :func:`axis_room`, :func:`labelled_ticks`, :func:`annotation_box`: where Plotly puts
  the plot area (its automargin widening the margins for the axes' labels and colour bars), which ticks
  it labels (its auto step: 2, 5 or 10 times a power of ten, five to ten ticks), where a title over a
  subplot lies: what the layout test checks every figure with.

What it is not: the look of a figure (:mod:`core.figures.style`), measuring in a browser, Streamlit.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go

NARROW = 420  # px: a chart in one of two columns of the wide layout on a 1280-px screen, sidebar open
THIRD = 270  # px: a chart in one of three columns there (the Train page's live curves)
WIDE = 860  # px: a chart across the main column on the same screen
EXPORT = 1100  # px: dashboard.state's PNG and SVG exports
FONT = 12  # Plotly's layout font, tick labels and legend entries
AXIS_TITLE_FONT = 14  # Plotly's axis titles
SUBPLOT_TITLE_FONT = 16  # make_subplots' titles (annotations)
TITLE_FONT = 17  # Plotly's figure title: 1.4 x the layout font
LINE = 1.3  # Plotly's line height, in em, of text with <br>
TITLE_PAD = 10  # px above the title (style())
CAP_SHIFT = 0.7  # em from the top of a line of text to its baseline (plotly.js)
LEGEND_ROW = 19  # px per row of a horizontal legend at 12 px: a line, at least 16 px, and 3 (plotly.js)
LEGEND_PAD = 10  # px the legend box adds to its rows: 5 above and under
LEGEND_SYMBOL = 40  # px of an entry's symbol and the gaps around it, before its text
LEGEND_GAP = 5  # px between two entries side by side
LEGEND_ENTRY = LEGEND_SYMBOL + LEGEND_GAP  # px an entry takes besides its text
LEGEND_GROUP_GAP = 10  # px between two rows of legend groups (tracegroupgap)
ELLIPSIS = "…"

# em widths of DejaVu Sans (Verdana's metrics), measured in Chromium; anything else counts as WIDE_CHAR
_WIDTHS: dict[str, float] = {}
for _chars, _em in (("ijl.,:;·'", 0.32), (" ", 0.32), ("frt()[]-/I|!", 0.40), ("J\"", 0.46),
                    ("cksvxyz_*?", 0.60), ("abdeghnopqu0123456789θ", 0.64), ("FLPTY", 0.62),
                    ("ABCEKRSVXZ", 0.72), ("DGHNOQU", 0.79), ("w", 0.82), ("=<>+~^#≈≥≤×", 0.84),
                    ("mM%W&@—…", 1.0), ("–‖∂", 0.52), ("Π", 0.76)):
    _WIDTHS.update(dict.fromkeys(_chars, _em))
WIDE_CHAR = 0.8  # a letter not in the table (accented, Greek, Cyrillic): wider than most
_TAG = re.compile(r"<[^>]*>")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def lines(text: str | None) -> list[str]:
    """The lines of a Plotly text (``<br>`` breaks them), each without its tags and with entities decoded."""
    if not text:
        return []
    return [html.unescape(_TAG.sub("", part)) for part in _BREAK.split(str(text))]


def _char_width(c: str) -> float:
    if c in _WIDTHS:
        return _WIDTHS[c]
    if unicodedata.east_asian_width(c) in ("W", "F"):
        return 1.0  # CJK, emoji: a full em
    if unicodedata.combining(c):
        return 0.0
    return WIDE_CHAR


def text_width(text: str | None, size: float = FONT) -> float:
    """Width in px of ``text``'s longest line at ``size`` px (tags such as <b> take no room)."""
    return max((sum(_char_width(c) for c in line) * size for line in lines(text)), default=0.0)


def text_height(text: str | None, size: float = FONT) -> float:
    """Height in px of ``text``'s lines at ``size`` px (0 for no text)."""
    n = len(lines(text))
    return n * LINE * size if n else 0.0


def _words(line: str) -> list[str]:
    """A line's words; a lone separator ("·", "-", ":") sticks to the word before, so no line starts with one."""
    out: list[str] = []
    for w in line.split(" "):
        if out and (w in ("·", "-", "–", "—", ":", "|") or not w):
            out[-1] += " " + w if w else ""
        else:
            out.append(w)
    return out


def _cut(word: str, width: float, size: float) -> tuple[str, str]:
    """The longest head of ``word`` that fits ``width``, and the rest (at least one character is taken)."""
    n = 1
    while n < len(word) and text_width(word[:n + 1], size) <= width:
        n += 1
    return word[:n], word[n:]


def wrap(text: str, width: float, size: float = FONT) -> list[str]:
    """``text`` broken into lines of at most ``width`` px at ``size``: at spaces, a word too long cut where it must."""
    out: list[str] = []
    for line in lines(text):
        current = ""
        for word in _words(line):
            candidate = f"{current} {word}" if current else word
            if text_width(candidate, size) <= width:
                current = candidate
                continue
            if current:
                out.append(current)
            current = word
            while text_width(current, size) > width:  # a single word wider than the line
                head, current = _cut(current, width, size)
                out.append(head)
        out.append(current)
    return out


def _segments(text: str) -> list[str]:
    """The parts a label is made of: split at " · " (run labels), else at spaces."""
    parts = text.split(" · ")
    return parts if len(parts) > 1 else text.split(" ")


def fit(text: str, width: float, size: float = FONT, max_lines: int = 2) -> str:
    """``text`` in at most ``max_lines`` lines of ``width`` px (joined by ``<br>``), shortened in the middle if need be.

    Shortening keeps the head and the last part of the label (``lstm · fast · … · 8ec553``: a run's cell
    and the end of its id, where labels differ), as many head parts as fit, else the last part alone
    (``… · 8ec553``); a single word too long is cut with "…". Put the full text in the hover: what is cut
    here is only hidden.
    """
    plain = " ".join(lines(text))
    wrapped = wrap(plain, width, size)
    if len(wrapped) <= max_lines:
        return "<br>".join(wrapped)
    sep = " · " if " · " in plain else " "
    parts = _segments(plain)
    best = None
    # the most head parts that still fit beside the last one; else the last one alone ("… · 8ec553")
    for candidate in [sep.join([*parts[:keep], ELLIPSIS, parts[-1]]) for keep in range(len(parts) - 1, 0, -1)] \
            + [ELLIPSIS + sep + parts[-1]] * (len(parts) > 1):
        if len(wrap(candidate, width, size)) <= max_lines:
            best = candidate
            break
    if best is None:  # even "… tail" is too long: cut the characters
        flat = wrap(plain, width, size)
        head = flat[:max_lines]
        last = head[-1]
        while last and text_width(last + ELLIPSIS, size) > width:
            last = last[:-1]
        head[-1] = last.rstrip(" ·") + ELLIPSIS
        return "<br>".join(head)
    return "<br>".join(wrap(best, width, size))


def fit_all(texts: Sequence[str], width: float, size: float = FONT, max_lines: int = 2) -> list[str]:
    """:func:`fit` for each of ``texts``, kept distinct: two that shorten alike are numbered ("1: ...")."""
    out = [fit(str(t), width, size, max_lines) for t in texts]
    if len(set(out)) < len(out):
        out = [fit(f"{i}: {t}", width, size, max_lines) for i, t in enumerate(texts, 1)]
    return out


def _entry_height(name: str, size: float) -> float:
    """Height in px of one legend entry: its lines, at least 16 px, and 3 px (plotly.js)."""
    return max(len(lines(name)) * LINE * size, 16.0) + 3.0


def legend_rows(names: Sequence[str], width: float, size: float = FONT) -> list[list[int]]:
    """How a horizontal legend of ``names`` lays its entries out in ``width`` px: the entries of each row.

    plotly.js: all in one row where they fit side by side; else on a grid of columns as wide as the
    widest entry, as many per row as fit. ``width`` is the plot area's: a legend at x = 0 wraps there.
    """
    if not names:
        return []
    widths = [LEGEND_SYMBOL + text_width(n, size) for n in names]
    if sum(widths) + (len(widths) - 1) * LEGEND_GAP < width:
        return [list(range(len(names)))]
    slot = max(widths) + LEGEND_GAP
    per_row = max(1, math.floor((width + LEGEND_GAP - 1e-9) / slot))
    return [list(range(i, min(i + per_row, len(names)))) for i in range(0, len(names), per_row)]


def legend_height(names: Sequence[str], width: float, size: float = FONT,
                  groups: Sequence[str | None] | None = None) -> float:
    """Height in px of a horizontal legend of ``names`` in a plot area ``width`` px wide (0 without entries).

    ``groups``: each entry's ``legendgroup``. Where any is set, Plotly stacks each group's entries in a
    column and lays the groups side by side, a row of groups as high as its tallest and 10 px apart.
    """
    if not names:
        return 0.0
    if groups is not None and any(groups):
        columns: dict[str, list[int]] = {}
        for i, g in enumerate(groups):
            columns.setdefault(g or f"~{i}", []).append(i)  # an entry without a group is a group of its own
        x, y, row = 0.0, 0.0, 0.0
        for members in columns.values():
            w = max(LEGEND_SYMBOL + text_width(names[i], size) for i in members) + LEGEND_GAP
            h = sum(_entry_height(names[i], size) for i in members)
            if x > 0 and w + x > width:
                y, row, x = y + row + LEGEND_GROUP_GAP, h, 0.0
            else:
                row = max(row, h)
            x += w
        return y + row + LEGEND_PAD
    return LEGEND_PAD + sum(max(_entry_height(names[i], size) for i in row) for row in legend_rows(names, width, size))


# ---- where Plotly puts things: the plot area, the axes' labels, their ticks ------------------------------------
# Plotly's own constants (plotly.js, template "plotly_white"); the layout test checks them against Chromium's SVG
TICK_PAD = 6  # px between an axis and its tick labels
TITLE_STANDOFF = 15  # px between the tick labels and the axis title (the template's standoff)
COLORBAR = 30  # px: a colour bar's default thickness
COLORBAR_PAD = 10  # px between the plot and a colour bar (its xpad)
COLORBAR_LABELS = 40  # px of a colour bar's tick labels ("0.25", "-1.5")
AUTO_TICKS = (5, 10)  # an auto linear axis has between 5 and 10 ticks: constrain(length / 80 or 40, 4, 9) + 1
TOP_PUSH = 10  # px the axes' top tick labels push the top margin: Plotly keeps that under a legend or title
PARCOORDS_LABEL = 28  # px from the top of a parallel-coordinates axis up to its label's baseline
PARCOORDS_EXTENT = 10  # px from an end of such an axis to its range label
PARCOORDS_TICK = 7  # px from such an axis to its tick labels (drawn on its left)


@dataclass(frozen=True)
class Box:
    """A rectangle in px from the figure's top left corner."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    def overlaps(self, other: Box) -> bool:
        """Whether the two boxes share any area (touching edges do not count)."""
        return (self.left < other.right and other.left < self.right
                and self.top < other.bottom and other.top < self.bottom)


def auto_dtick(span: float, ticks: float) -> float:
    """The step Plotly picks for an auto linear axis over ``span`` aiming at ``ticks`` ticks: 2, 5 or 10 x 10^k.

    plotly.js ``autoTicks``: the rough step ``span / ticks`` rounded up to the next of 2, 5, 10 times its
    power of ten, so the step is at most 2.5 rough steps: five ticks aimed at leave at least two in the span.
    """
    if not (span > 0 and math.isfinite(span)):
        return 1.0
    rough = span / ticks
    base = 10.0 ** math.floor(math.log10(rough))
    return base * next((m for m in (2, 5, 10) if m > rough / base), 10)


def _axis_suffix(ref: str | None, letter: str) -> str:
    """A trace's axis reference ("x", "x2", None) as its layout name ("xaxis", "xaxis2")."""
    ref = ref or letter
    return f"{letter}axis{ref[1:]}"


def layout_axis(fig: Any, name: str) -> Any:
    """The layout axis ``name`` (``xaxis2``) of ``fig``; an axis no one set (all defaults) where it has none."""
    try:
        return fig.layout[name]
    except KeyError:  # plotly's PlotlyKeyError: a subplot axis the layout never got
        return go.layout.XAxis() if name[0] == "x" else go.layout.YAxis()


def axis_names(fig: Any) -> list[str]:
    """The layout names of the cartesian axes that have something drawn on them (``xaxis``, ``yaxis2``...)."""
    names: list[str] = []
    for tr in fig.data:
        if tr.type in ("parcoords", "table", "pie", "sankey"):
            continue
        for letter in "xy":
            name = _axis_suffix(getattr(tr, f"{letter}axis", None), letter)
            if name not in names:
                names.append(name)
    return names


def _number(v: Any) -> float | None:
    if v is None or isinstance(v, bool | str):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def axis_values(fig: Any, name: str) -> list[Any]:
    """Every value drawn on the axis ``name`` (``xaxis2``): the traces' x or y, 0 for the base of bars."""
    letter = name[0]
    out: list[Any] = []
    for tr in fig.data:
        if tr.type in ("parcoords", "table") or _axis_suffix(getattr(tr, f"{letter}axis", None), letter) != name:
            continue
        vals = getattr(tr, letter, None)
        if vals is None and tr.type == "heatmap" and tr.z is not None:  # a heatmap without x (y) counts columns (rows)
            rows = list(tr.z)
            vals = range(len(rows[0]) if letter == "x" and rows else len(rows))
        seq = [v for v in (list(vals) if vals is not None else []) if v is not None]
        out += seq
        value_axis = "x" if getattr(tr, "orientation", None) == "h" else "y"
        if tr.type == "bar" and letter == value_axis and seq:
            out.append(0.0)
    return out


def axis_kind(axis: Any, values: Sequence[Any]) -> str:
    """``"category"``, ``"log"`` or ``"linear"``: the axis's type, or the one Plotly infers from the values."""
    if axis.type in ("category", "log", "linear"):
        return str(axis.type)
    numbers = [v for v in values if isinstance(v, int | float | np.number) and not isinstance(v, bool)]  # NaN too
    return "category" if len(numbers) < len(values) / 2 else "linear"  # Plotly: most values numbers -> linear


def _span(axis: Any, kind: str, values: Sequence[Any]) -> tuple[float, float] | None:
    """The range an axis shows at least: its own range where set, else its values' (in log10 on a log axis)."""
    if axis.range is not None and all(_number(r) is not None for r in axis.range):
        lo, hi = sorted(float(r) for r in axis.range)
        return lo, hi
    nums = [f for f in (_number(v) for v in values) if f is not None and (kind != "log" or f > 0)]
    if not nums:
        return None
    if kind == "log":
        nums = [math.log10(f) for f in nums]
    return min(nums), max(nums)


def labelled_ticks(axis: Any, values: Sequence[Any], finest: bool = False) -> list[Any]:
    """The ticks Plotly labels on ``axis`` over the range it shows at least (its range, else its values' span).

    Category axes: the categories (or the listed tickvals among them). Array ticks: the tickvals in range.
    Log axes: the powers ``10^(tick0 + k dtick)`` in range. Auto linear ticks depend on the drawn length:
    the fewest Plotly would draw (5 aimed at), or the ``finest`` (10 aimed at).
    """
    kind = axis_kind(axis, values)
    if kind == "category":
        cats = list(dict.fromkeys(str(v) for v in values))
        if axis.tickvals is not None:
            return [str(t) for t in axis.tickvals if str(t) in cats]
        return cats
    span = _span(axis, kind, values)
    if span is None:
        return []
    lo, hi = span
    if hi == lo and axis.range is None:  # a single value: Plotly's autorange shows it +-1 (a decade on a log axis)
        lo, hi = lo - 1, hi + 1
    eps = 1e-9 * max(abs(lo), abs(hi), 1.0)
    if axis.tickvals is not None:
        texts = list(axis.ticktext) if axis.ticktext is not None else None
        out = []
        for i, t in enumerate(axis.tickvals):
            f = _number(t)
            if f is None or (kind == "log" and f <= 0):
                continue
            pos = math.log10(f) if kind == "log" else f
            if lo - eps <= pos <= hi + eps and (texts is None or (i < len(texts) and str(texts[i]).strip())):
                out.append(f)
        return out
    dtick = _number(axis.dtick)
    tick0 = _number(axis.tick0) or 0.0
    if dtick is None or dtick <= 0:
        if kind == "log":  # Plotly's own log ticks: at least the decades
            dtick = 1.0
        else:  # nticks, where set, is the count Plotly aims at whatever the length
            dtick = auto_dtick(hi - lo, axis.nticks or (AUTO_TICKS[1] if finest else AUTO_TICKS[0]))
    first = math.ceil((lo - tick0) / dtick - 1e-9)
    last = math.floor((hi - tick0) / dtick + 1e-9)
    ticks = [tick0 + k * dtick for k in range(first, last + 1)] if last - first < 10_000 else []
    return [10.0 ** t for t in ticks] if kind == "log" else [round(t, 12) for t in ticks]


def _tick_texts(axis: Any, values: Sequence[Any]) -> list[str]:
    """The tick labels Plotly writes on ``axis`` (their text; auto ticks as Plotly formats them, roughly)."""
    kind = axis_kind(axis, values)
    if axis.ticktext is not None:
        return [str(t) for t in axis.ticktext]
    ticks = labelled_ticks(axis, values, finest=True)
    if kind == "category":
        return [str(t) for t in ticks]
    if kind == "log" and axis.tickvals is None:
        return ["10" + "⁻" * (t < 1) + "0" * max(len(str(abs(round(math.log10(t))))), 1) for t in ticks]
    return [f"{t:,.4g}" if abs(t) < 1e5 else f"{t / 1e3:,.4g}k" for t in ticks]


def _font_size(font: Any, default: float) -> float:
    size = getattr(font, "size", None) if font is not None else None
    return float(size) if size else default


def axis_room(fig: Any, name: str, length: float | None = None) -> float:
    """The px an axis's tick labels and title take beside the plot, across the axis (Plotly's automargin).

    An x axis's labels are turned by ``tickangle``; unset, Plotly turns them by 90 degrees where they would
    overlap side by side over ``length`` px (the axis's drawn length, when known).
    """
    axis = layout_axis(fig, name)
    if axis.visible is False:
        return 0.0
    values = axis_values(fig, name)
    size = _font_size(axis.tickfont, FONT)
    room = 0.0
    if axis.showticklabels is not False and values:
        texts = _tick_texts(axis, values)
        widest = max((text_width(t, size) for t in texts), default=0.0)
        tall = max((text_height(t, size) for t in texts), default=0.0)
        if name[0] == "y":
            room = widest + TICK_PAD
        else:
            angle = axis.tickangle
            if angle is None or angle == "auto":
                crowded = length is not None and len(texts) * (widest + 8) > length
                angle = 90 if crowded else 0
            a = math.radians(float(angle))
            room = widest * abs(math.sin(a)) + tall * abs(math.cos(a)) + TICK_PAD
    title = axis.title.text if axis.title is not None else None
    if title:
        room += text_height(title, _font_size(axis.title.font, AXIS_TITLE_FONT)) + TITLE_STANDOFF
    return room


def _colour_bars(fig: Any) -> list[Any]:
    """The colour bars a figure draws (heatmaps show one unless told not to; markers and lines only when told)."""
    out = []
    for tr in fig.data:
        if tr.type in ("heatmap", "contour", "histogram2d") and tr.showscale is not False:
            out.append(tr.colorbar)
        elif tr.type in ("scatter", "bar") and tr.marker is not None and tr.marker.showscale:
            out.append(tr.marker.colorbar)
        elif tr.type == "parcoords" and tr.line is not None and tr.line.showscale:
            out.append(tr.line.colorbar)
    return out


def colour_bar_room(fig: Any) -> float:
    """The px right of the plot that its colour bars take (0 without one)."""
    room = 0.0
    for bar in _colour_bars(fig):
        thick = float(bar.thickness) if bar.thickness is not None else COLORBAR
        title = bar.title.text if bar.title is not None else None
        size = _font_size(bar.title.font if bar.title is not None else None, AXIS_TITLE_FONT)
        extra = 0.0
        if title and bar.title.side == "right":
            extra = text_height(title, size) + 4
        elif title:  # on top: as wide as its text, from the bar's left edge
            extra = max(text_width(title, size) - thick - COLORBAR_LABELS, 0.0)
        room = max(room, COLORBAR_PAD + thick + COLORBAR_LABELS + extra)
    return room


def _domain(axis: Any) -> tuple[float, float]:
    d = axis.domain
    return (float(d[0]), float(d[1])) if d is not None else (0.0, 1.0)


def _partner(fig: Any, name: str) -> Any:
    """The axis that ``name`` is anchored to: an x axis's y axis, a y axis's x axis."""
    other = "y" if name[0] == "x" else "x"
    anchor = layout_axis(fig, name).anchor
    return layout_axis(fig, _axis_suffix(anchor if anchor not in (None, "free") else other, other))


def _margin(fig: Any, side: str, default: float) -> float:
    m = fig.layout.margin
    value = getattr(m, side, None) if m is not None else None
    return float(value) if value is not None else default


def plot_box(fig: Any, width: float) -> Box:
    """The plot area of ``fig`` drawn ``width`` px wide: its margins, widened where its axes' labels need it.

    Plotly's automargin makes each margin the larger of the one set and what the outer axes' labels
    and titles take (the y axes starting at the left edge, the x axes starting at the bottom), and
    what colour bars take on the right.
    """
    height = float(fig.layout.height or 450)
    names = axis_names(fig)
    left = _margin(fig, "l", 80)
    for n in names:  # the y axes at the left edge push the left margin
        if n[0] == "y" and layout_axis(fig, n).side != "right" and _domain(_partner(fig, n))[0] <= 0.01:
            left = max(left, axis_room(fig, n))
    right = max(_margin(fig, "r", 80), colour_bar_room(fig))
    plot_w = width - left - right
    bottom = _margin(fig, "b", 80)
    for n in names:  # the x axes at the bottom push the bottom margin
        if n[0] == "x" and _domain(_partner(fig, n))[0] <= 0.01:
            d = _domain(layout_axis(fig, n))
            bottom = max(bottom, axis_room(fig, n, plot_w * (d[1] - d[0])))
    return Box(left, _margin(fig, "t", 100), width - right, height - bottom)


def paper_to_px(box: Box, x: float, y: float) -> tuple[float, float]:
    """A point in paper coordinates (0..1 across the plot area, 0 at its bottom) in px from the top left."""
    return box.left + x * box.width, box.top + (1 - y) * box.height


def annotation_box(fig: Any, annotation: Any, box: Box) -> Box | None:
    """Where a text annotation placed in paper coordinates lies, in px (None for one placed on data)."""
    if annotation.xref != "paper" or annotation.yref != "paper" or not annotation.text or annotation.showarrow:
        return None
    size = _font_size(annotation.font, FONT)
    w, h = text_width(annotation.text, size), text_height(annotation.text, size)
    x, y = paper_to_px(box, float(annotation.x or 0), float(annotation.y or 0))
    y -= float(annotation.yshift or 0)
    x += float(annotation.xshift or 0)
    xa = annotation.xanchor if annotation.xanchor not in (None, "auto") else "center"
    ya = annotation.yanchor if annotation.yanchor not in (None, "auto") else "middle"
    x0 = {"left": x, "center": x - w / 2, "right": x - w}[xa]
    y0 = {"top": y, "middle": y - h / 2, "bottom": y - h}[ya]
    return Box(x0, y0, x0 + w, y0 + h)
