"""The look every RNN Lab figure shares, and the export of any figure as a table.

What it is: the colours (per cell type, per label, per run), the common layout (:func:`style`),
the blank figure that says why it is blank (:func:`empty_figure`), a run's legend name, and
:func:`figure_data` / :func:`figure_csv`, which turn any figure back into the table its CSV
export holds, so no figure builder writes its own export. :func:`table_csv` is the one writer of every CSV a
user downloads (a chart's, a page's table): a cell that a spreadsheet would run as a formula is written
as text (:func:`spreadsheet_cell`). Every topic module beside this one
reuses ``style``, ``run_colour`` and ``CELL_COLOURS``, so every page and the report look alike.
Every log axis goes through :func:`log_axis` (labels at powers of ten, plain numbers where a range holds
fewer than two), and numbers that may be tiny, huge or underflowed are written by :func:`format_number` and
:func:`format_log10`. What keeps text apart at any count of runs and length of label, measured with
:mod:`core.figures.layout`: :func:`style` (the title wrapped, the margin computed), :func:`category_labels`
(long run names on an axis, fitted), :func:`bar_labels` (values beyond their bars, with the room they need),
:func:`panel_grid` (one subplot per run, in rows, titles fitted), :func:`integer_axis` and :func:`plain_ticks`
(whole numbers ticked at whole numbers only).

What it is not: any particular chart (one module per topic beside this one), Streamlit, reading
runs or files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from rnnlab.core.figures import layout

# Okabe-Ito colours: told apart by readers with any common colour-vision deficiency
# (the modern cells take the palette's other three: sky blue beside the GRU's green for minGRU, orange for minLSTM,
# black for the LRU; yellow is too light on white)
CELL_COLOURS = {"rnn": "#D55E00", "lstm": "#0072B2", "gru": "#009E73", "hmm": "#CC79A7",
                "mingru": "#56B4E9", "minlstm": "#E69F00", "lru": "#000000"}
NEGATIVE, POSITIVE = "#E69F00", "#0072B2"  # orange / blue: never red against green
LABEL_COLOURS = {"neg": NEGATIVE, "pos": POSITIVE, "unlabelled": "#7f7f7f"}
# distinct colours for runs drawn together (Plotly's qualitative "D3" set, reordered for contrast)
# runs in drawing order: the first three (blue, orange, purple) stay apart for the common colour-vision
# deficiencies; red and green, which deuteranopes confuse, are not neighbours
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#2ca02c", "#8c564b", "#d62728", "#17becf", "#e377c2",
           "#bcbd22", "#7f7f7f")
GREY = "#9a9a9a"  # what is shown but not the point: reference lines, tokens a model did not read
HEIGHT = 360  # px: two charts fit side by side on a laptop screen


def run_colour(i: int) -> str:
    """The colour of the ``i``-th run drawn in one chart."""
    return PALETTE[i % len(PALETTE)]


def cell_colour(cell: str | None, i: int) -> str:
    """The cell type's colour (the GMM-HMM's model name included), else the ``i``-th run colour."""
    return CELL_COLOURS.get("hmm" if cell == "gmmhmm" else str(cell), run_colour(i))


def run_label(run_id: str, model: str | None = None) -> str:
    """A short legend name for a run: ``lstm · 3f2a1c`` (the model and the id's random suffix)."""
    suffix = run_id.rsplit("-", 1)[-1]
    return f"{model} · {suffix}" if model else run_id


SIDE = 10  # px of margin left and right of every figure: Plotly widens it for the axes' labels
Y_LABELS = 50  # px a y axis's numeric tick labels and title usually take beside the plot
GAP = 6  # px between the title, the legend and the plot
NO_LEGEND = ("parcoords", "table")  # traces that never appear in a legend
DEFAULT_HIDDEN = ("heatmap", "histogram2d", "contour")  # traces a legend leaves out unless told otherwise
# the top margin style() counts on in ``height``: a one-line title and a one-row legend; each further line adds its own
USUAL_TOP = layout.TITLE_PAD + layout.LINE * layout.TITLE_FONT + GAP + layout.LEGEND_PAD + layout.LEGEND_ROW + GAP
BOTTOM = 10  # px: the bottom margin style() sets (Plotly widens it for the x axis's labels)


def legend_entries(fig: go.Figure) -> list[go.BaseTraceType]:
    """The traces Plotly names in the legend: those not hidden from it (heatmaps are by default), if two or more."""
    shown = [tr for tr in fig.data if tr.type not in NO_LEGEND and tr.showlegend is not False
             and not (tr.type in DEFAULT_HIDDEN and tr.showlegend is None)]
    if fig.layout.showlegend is False or (len(shown) < 2 and fig.layout.showlegend is not True):
        return []
    return shown


def _fit_legend_names(entries: Sequence[go.BaseTraceType], room: float) -> None:
    """Shorten the legend names that would not fit ``room`` px, kept distinct; the full name stays in ``meta``.

    :func:`figure_data` exports the full name, so the CSV never holds the shortened one; the hover shows it.
    """
    names = [str(tr.name or "") for tr in entries]
    if all(layout.LEGEND_ENTRY + layout.text_width(n) <= room for n in names):
        return
    fitted = layout.fit_all(names, room - layout.LEGEND_ENTRY, layout.FONT, max_lines=2)
    for tr, name, short in zip(entries, names, fitted, strict=True):
        if short == name:
            continue
        tr.meta = name
        tr.name = short
        if tr.type in ("scatter", "bar") and tr.hovertemplate is None:
            tr.hovertemplate = "%{x}, %{y}<extra>%{meta}</extra>"


def top_annotations_height(fig: go.Figure) -> float:
    """Height in px of the text set on top of the plot area (subplot titles of the top row): the margin must hold it."""
    out = 0.0
    for a in fig.layout.annotations:
        if a.yref == "paper" and a.y is not None and a.y >= 0.999 and a.yanchor == "bottom":
            size = (a.font.size if a.font and a.font.size else layout.FONT)
            out = max(out, layout.text_height(a.text, size) + (a.yshift or 0))
    return out


def style(fig: go.Figure, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = HEIGHT, width: int = layout.NARROW, above: float = 0.0) -> go.Figure:
    """The common look: the title at the top, the legend under it, the plot under both, nothing on top of another.

    ``width``: the narrowest the figure is drawn at (:data:`core.figures.layout.NARROW`, half a column, unless the
    page draws it across the whole column). The title is wrapped to it and the legend's rows counted at it, and
    the top margin is their heights added up (:mod:`core.figures.layout`), never a guess; a wider screen leaves
    room to spare. ``height`` is the figure's height with a one-line title and a one-row legend: each further
    line adds its own height, so the plot keeps its size. ``above``: px of text the figure draws over its plot
    area besides subplot titles (the axis names of parallel coordinates), which the margin must hold too.
    """
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    fig.update_layout(margin={"l": SIDE, "r": SIDE, "b": BOTTOM}, template="plotly_white")  # the legend's room
    text = "<br>".join(layout.wrap(title, width - 2 * SIDE, layout.TITLE_FONT)) if title else None
    title_bottom = layout.TITLE_PAD + layout.text_height(text, layout.TITLE_FONT) if text else 0.0
    entries = legend_entries(fig)
    room = legend_room(fig, width)
    _fit_legend_names(entries, room)
    legend = layout.legend_height([str(tr.name or "") for tr in entries], room,
                                  groups=[tr.legendgroup for tr in entries])
    above = max(top_annotations_height(fig), above)
    top = title_bottom + GAP + (legend + GAP if legend else 0.0) + (above + GAP if above else 0.0)
    # Plotly keeps the legend (and the title) this far above the plot however the margin is set: less, and it
    # pushes the plot down by the difference, under the room the figure counted on
    top = max(top, (title_bottom + GAP + legend if legend else title_bottom) + layout.TOP_PUSH)
    h = int(height + max(top - USUAL_TOP, 0.0))
    # Plotly lowers a one-line title by its capital's height (0.7 em) under the pad, but sets the first of
    # several lines at the pad itself, half out of the figure: the pad then takes that height
    pad = layout.TITLE_PAD + (layout.CAP_SHIFT * layout.TITLE_FONT if text and "<br>" in text else 0.0)
    fig.update_layout(title={"text": text, "x": 0, "xref": "container", "xanchor": "left", "y": 1.0,
                             "yref": "container", "yanchor": "top", "pad": {"t": pad, "l": SIDE}}
                      if text else None,
                      height=h, margin={"t": math.ceil(top)},
                      # in the figure's own px from the top: right under the title, whatever the plot's size
                      legend={"orientation": "h", "yref": "container", "yanchor": "top",
                              "y": 1 - (title_bottom + GAP) / h, "xanchor": "left", "x": 0})
    return fig


def legend_room(fig: go.Figure, width: int = layout.NARROW) -> float:
    """The px a horizontal legend at the plot's left edge has before it wraps: the plot area's width (plotly.js)."""
    return max(layout.plot_box(fig, width).width, 2 * layout.LEGEND_SYMBOL)


INTEGER_SPAN = 5  # whole numbers over a span this short: Plotly's auto ticks could fall between them (1.5)
LABEL_ROOM = 0.4  # the most of a figure's width a y axis's category labels may take across it
X_LABEL_ROOM = 0.4  # the most of a figure's height an x axis's upright category labels may take
BAR_LABEL_PAD = 4  # px between a bar's end and its label, and between the label and the plot's edge


def _numbers(values: Any) -> np.ndarray:
    v = pd.to_numeric(pd.Series(np.asarray(values, dtype=object).ravel()), errors="coerce").to_numpy(dtype=float)
    return v[np.isfinite(v)]


def integer_axis(fig: go.Figure, axis: str = "x", values: Any = None, **where: Any) -> go.Figure:
    """Tick ``axis`` of whole numbers (epochs, iterations, seeds, positions) at whole numbers only.

    Plotly's auto ticks over a short span fall between them (1, 1.5, 2): there, every whole number is
    ticked (a step of 1); over a longer span its steps (1, 2, 5, 10 ...) are whole already.
    """
    v = _numbers(values) if values is not None else np.array([])
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    if not len(v) or float(v.max() - v.min()) <= INTEGER_SPAN:
        update(tickmode="linear", tick0=0, dtick=1, **where)
    return fig


def category_labels(fig: go.Figure, axis: str, labels: Sequence[str], width: int = layout.NARROW,
                    height: float = HEIGHT, room: float | None = None, **where: Any) -> float:
    """Label a category ``axis`` ("x" or "y") with ``labels`` made to fit; returns the px they take across it.

    Each label keeps its full text as the category (the hover and the CSV show it); what is written
    is :func:`core.figures.layout.fit_all`'s, distinct: on an x axis, wrapped in two lines under each
    category where that fits ``width``, else written upwards in one or two lines of at most
    :data:`X_LABEL_ROOM` of ``height``; on a y axis, in one or two lines of at most :data:`LABEL_ROOM` of
    ``width``; ``room``: px across the axis instead, where the figure has more to fit beside them.
    """
    labels = [str(lab) for lab in labels]
    n = max(len(labels), 1)
    if axis == "x":
        per = (width - 2 * SIDE - Y_LABELS) / n - 8  # px under each category
        wrapped = ["<br>".join(layout.wrap(lab, per)) for lab in labels]
        if per > 0 and all(len(layout.lines(w)) <= 2 for w in wrapped) and len(set(wrapped)) == n:
            fig.update_xaxes(type="category", tickmode="array", tickvals=labels, ticktext=wrapped, tickangle=0,
                             **where)
            return max(layout.text_height(w) for w in wrapped) + layout.TICK_PAD
        room = room or X_LABEL_ROOM * height
        lines = 2 if per + 8 >= 2 * layout.LINE * layout.FONT + 4 else 1  # two upright lines where a slot holds them
        text = layout.fit_all(labels, room, layout.FONT, max_lines=lines)
        fig.update_xaxes(type="category", tickmode="array", tickvals=labels, ticktext=text, tickangle=-90, **where)
        return max(layout.text_width(t) for t in text) + layout.TICK_PAD
    room = room or LABEL_ROOM * width
    per_row = (height - 100) / n  # px beside each category, under a usual top margin
    text = layout.fit_all(labels, room, layout.FONT, max_lines=2 if per_row >= 2 * layout.LINE * layout.FONT else 1)
    fig.update_yaxes(type="category", tickmode="array", tickvals=labels, ticktext=text, **where)
    return max(layout.text_width(t) for t in text) + layout.TICK_PAD


def _bar_extent(tr: go.Bar, texts: Sequence[str], slot: float) -> tuple[float, int]:
    """The px a bar's labels take along it, and their angle: level where they fit the bar's width, else upright."""
    size = tr.textfont.size if tr.textfont is not None and tr.textfont.size else layout.FONT
    widest = max((layout.text_width(t, size) for t in texts), default=0.0)
    tall = max((layout.text_height(t, size) for t in texts), default=0.0)
    if tr.orientation == "h":
        return widest, 0
    if tr.textangle == -90 or widest > slot:
        return widest, -90
    return tall, 0


def bar_labels(fig: go.Figure, width: int = layout.NARROW, rotate: bool | None = None,
               upto: float | None = None) -> go.Figure:
    """Write each bar's ``text`` beyond its end, whole, and make the value axis long enough to hold it.

    Call it after :func:`style` (the margins are known then): the room a label needs (its width, or its
    height when level) is measured with :mod:`core.figures.layout`, and the value axis's range is set so
    that room lies between the longest bar and the plot's edge at the narrowest ``width``: no label is
    clipped ("30,20" for 30,200) nor drawn over the legend. Labels are level where they fit the bar's
    width; side by side bars (``rotate``, by default when several series are grouped) write them upwards,
    so neighbours never run into each other ("0.5930.588"). ``upto``: the least the value axis must reach
    (1 for scores and probabilities), labels or not.
    """
    bars = [tr for tr in fig.data if tr.type == "bar" and tr.text is not None and len(tr.text)]
    if not bars:
        return fig
    rotate = len(bars) > 1 if rotate is None else rotate
    box = layout.plot_box(fig, width)
    horizontal = bars[0].orientation == "h"
    value = "xaxis" if horizontal else "yaxis"
    cats = max((len(tr.y if horizontal else tr.x) for tr in bars), default=1)
    groups = len(bars) if fig.layout.barmode == "group" else 1
    along = box.width if horizontal else box.height
    slot = (box.height if horizontal else box.width) / max(cats, 1) * 0.75 / groups  # px across one bar
    need = 0.0
    for tr in bars:
        if rotate and not horizontal:
            tr.textangle = -90
        extent, angle = _bar_extent(tr, [str(t) for t in tr.text], slot)
        tr.update(textposition="outside", textangle=angle, cliponaxis=False, constraintext="none")
        need = max(need, extent + 2 * BAR_LABEL_PAD)
    axis = fig.layout[value]
    values = [v for tr in bars for v in _numbers(tr.x if horizontal else tr.y)]
    if not values or need <= 0 or along <= need * 1.5:
        return fig
    share = need / along  # the part of the axis the labels take
    if axis.type == "log":
        logs = [math.log10(v) for v in values if v > 0]
        lo = axis.range[0] if axis.range is not None else min(logs) - 0.5  # bars need a floor below the least
        hi = max(logs)
        fig.update_layout({value: {"range": [lo, (hi - share * lo) / (1 - share)]}})
        return fig
    lo, hi = min(min(values), 0.0), max(max(values), 0.0)
    span = hi - lo if hi > lo else 1.0
    ends = (max(values) > 0) + (min(values) < 0)  # labels beyond the positive bars, the negative ones, or both
    room = span * share / (1 - ends * share)
    top = max(hi + (room if max(values) > 0 else 0.0), upto if upto is not None else -math.inf)
    bottom = lo - (room if min(values) < 0 else 0.0)
    fig.update_layout({value: {"range": [bottom, top]}})
    return fig


def panel_grid(titles: Sequence[str], *, width: int = layout.NARROW, panel_height: float = 200, most: int = 3,
               least_width: float = 150, left: float = Y_LABELS, right: float = 0.0, between: float = 24.0,
               below: float = 0.0, **subplots: Any) -> tuple[go.Figure, int, float]:
    """Subplots for one panel per title, as many side by side as keep each ``least_width`` px wide at ``width``
    (at most ``most``), the rest in further rows; each title fitted to its column and the rows spaced to hold them.

    ``left``: px of the first column's y labels; ``right``: px right of the plot (a colour bar); ``between``: px
    between columns (inner columns' y labels); ``below``: px under each row for its x labels (and axis title).
    Titles are shortened (:func:`core.figures.layout.fit_all`, distinct) to two lines of their column's width
    at the layout font's size, so neighbours never run into each other; between two rows lie the upper row's
    x labels, then the lower row's titles. Returns the figure, its number of columns and the ``height`` to
    give :func:`style` for ``panel_height`` px per row.
    """
    n = max(len(titles), 1)
    plot_w = width - 2 * SIDE - left - right
    cols = max(1, min(n, most, int((plot_w + between) // (least_width + between))))
    rows = -(-n // cols)
    col_w = (plot_w - between * (cols - 1)) / cols
    fitted = layout.fit_all([str(t) for t in titles], col_w, layout.FONT, max_lines=2)
    title_h = max(layout.text_height(t) for t in fitted)
    gap = below + title_h + 2 * GAP  # the x labels of the row above, then the titles of the row below
    plot_h = rows * panel_height + (rows - 1) * gap
    spacing = {"horizontal_spacing": between / plot_w} if cols > 1 else {}
    if rows > 1:
        spacing["vertical_spacing"] = gap / plot_h
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=fitted, **spacing, **subplots)
    fig.update_annotations(font_size=layout.FONT)
    for a, full in zip(fig.layout.annotations, titles, strict=False):
        if a.text != full:
            a.hovertext = str(full)  # the full name on hover over its shortened title
    return fig, cols, plot_h + USUAL_TOP + below + BOTTOM


def plain_ticks(values: Any, most: int = 8) -> dict[str, list]:
    """Tick values and their text for a parallel-coordinates axis (or any axis) over ``values``.

    Every distinct value where there are at most ``most``, else round steps over their range (never
    between whole numbers when all are whole), each written by :func:`format_number`.
    """
    v = _numbers(values)
    if not len(v):
        return {"tickvals": [], "ticktext": []}
    whole = bool(np.all(v == np.round(v)))
    distinct = sorted(set(v.tolist()))
    if len(distinct) <= most:
        ticks = distinct
    else:
        lo, hi = float(v.min()), float(v.max())
        step = layout.auto_dtick(hi - lo, 5)
        step = max(step, 1.0) if whole else step
        ticks = [round(k * step, 12) for k in range(math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) + 1)]
    if whole:
        return {"tickvals": ticks, "ticktext": [f"{int(t):,}" for t in ticks]}
    digits = 2
    while len({format_number(t, digits) for t in ticks}) < len(ticks) and digits < 8:
        digits += 1  # 0.158 and 0.159 need three digits to be told apart
    return {"tickvals": ticks, "ticktext": [format_number(t, digits) for t in ticks]}


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]] | None:
    """Labelled ticks for a log axis over ``[low, high]`` where fewer than two powers of ten lie: None where two do.

    The values 1, 2, 5 times a power of ten, else 1..9 times one, else round steps of the range
    (0.158 .. 0.165: 0.158, 0.16, 0.162, 0.164), whichever first gives two in the range, each written
    in full (:func:`format_number` with the digits the step needs), so a reader never has to guess.
    """
    if not (0 < low <= high) or not math.isfinite(high):
        return None
    lo_e, hi_e = math.floor(math.log10(low)), math.ceil(math.log10(high))
    if sum(1 for e in range(lo_e, hi_e + 1) if low <= 10.0 ** e <= high) >= 2:
        return None
    for mantissas in ((1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        vals = [m * 10.0 ** e for e in range(lo_e, hi_e + 1) for m in mantissas if low <= m * 10.0 ** e <= high]
        if len(vals) >= 2:
            return vals, [format_number(v, 1) for v in vals]
    if high == low:
        return [low], [format_number(low, 3)]
    raw = (high - low) / 4
    step = min((m * 10.0 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)), key=lambda s: abs(s - raw))
    first = math.ceil(low / step - 1e-9)
    vals = [round(k * step, 12) for k in range(first, int(math.floor(high / step + 1e-9)) + 1)]
    digits = max(math.floor(math.log10(max(abs(v) for v in vals))) - math.floor(math.log10(step)) + 1, 1)
    return vals, [format_number(v, digits) for v in vals]


def log_axis(fig: go.Figure, axis: str = "y", values: Any = None, ticks: Sequence[float] | None = None,
             **where: Any) -> go.Figure:
    """Make ``axis`` ("x" or "y") of ``fig`` logarithmic, labelled at powers of ten, or plainly in a narrow range.

    Plotly's own log axis labels its minor ticks "2 3 ... 9" after each power, so 0.5 reads as 5;
    here only whole decades are ticked (``dtick`` 1, or 2, 5, 10, ... decades apart when
    ``values`` span more than a dozen) and written as powers (10⁻⁶). Where ``values`` hold fewer than
    two powers of ten (0.158 .. 0.165 holds none), powers alone would label nothing: the ticks are
    then plain numbers written in full (:func:`log_ticks`). ``ticks``: label exactly these values
    instead (e.g. the sequence lengths measured). ``where``: passed on to select the subplot
    (``row=``, ``col=``).
    """
    if axis not in ("x", "y"):
        raise ValueError(f"axis must be 'x' or 'y', not {axis!r}")
    update = fig.update_xaxes if axis == "x" else fig.update_yaxes
    if ticks is not None:
        vals = [float(t) for t in ticks]
        return update(type="log", tickmode="array", tickvals=vals, ticktext=[format_number(t) for t in vals],
                      minor={"showgrid": False}, **where)
    dtick = 1
    if values is not None:
        v = np.asarray(values, dtype=float).ravel()
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            plain = log_ticks(float(v.min()), float(v.max()))
            if plain is not None:
                return update(type="log", tickmode="array", tickvals=plain[0], ticktext=plain[1],
                              minor={"showgrid": False}, **where)
            span = math.log10(v.max()) - math.log10(v.min())
            # at most about a dozen labels, a round number of decades apart
            dtick = next((d for d in (1, 2, 5, 10, 20, 50, 100) if span / d <= 12), 200)
    return update(type="log", tickmode="linear", tick0=0, dtick=dtick, exponentformat="power",
                  showexponent="all", minor={"showgrid": False}, **where)


def format_number(x: float | None, digits: int = 2, zero: str = "0") -> str:
    """``x`` for a reader: ``digits`` significant digits, scientific below 1e-4 and from 1e6 on.

    ``1e-18`` -> ``"1.0e-18"``, ``0.734`` -> ``"0.73"``, ``0.5`` -> ``"0.5"``, ``12345`` -> ``"12,345"``; exact 0 ->
    ``zero`` (pass ``"underflow"`` where 0 can only come from numbers too small for the float
    type); None or NaN -> ``"—"``; infinities -> ``"∞"`` / ``"-∞"``.
    """
    if x is None:
        return "—"
    x = float(x)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return zero
    digits = max(int(digits), 1)
    if abs(x) < 1e-4 or abs(x) >= 1e6:
        return f"{x:.{digits - 1}e}"
    decimals = max(digits - 1 - math.floor(math.log10(abs(x))), 0)
    text = f"{round(x, decimals):,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # 0.50 -> 0.5


def format_log10(log10: float, digits: int = 2, zero: str = "0") -> str:
    """The number ``10 ** log10`` written as :func:`format_number` would, even beyond float64's range.

    ``-30.1`` -> ``"7.9e-31"``, ``-500`` -> ``"1.0e-500"``; ``-inf`` -> ``zero``, NaN -> ``"—"``.
    """
    log10 = float(log10)
    if math.isnan(log10):
        return "—"
    if math.isinf(log10):
        return zero if log10 < 0 else "∞"
    if -4 <= log10 < 6:
        return format_number(10.0 ** log10, digits, zero)
    exponent = math.floor(log10)
    mantissa = 10.0 ** (log10 - exponent)
    if round(mantissa, digits - 1) >= 10:  # 9.97 rounds up to 10.0: the next power
        mantissa, exponent = mantissa / 10, exponent + 1
    return f"{mantissa:.{max(digits - 1, 0)}f}e{exponent:+03d}"


def empty_figure(message: str, title: str | None = None) -> go.Figure:
    """A blank chart that says why it is blank (no data yet)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#7f7f7f"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, title)


def _values(v: Any) -> list[Any] | None:
    if v is None:
        return None
    return list(np.asarray(v).ravel()) if not isinstance(v, str) else [v]


def figure_data(fig: go.Figure) -> pd.DataFrame:
    """The numbers a figure draws, one row per point: ``trace, x, y`` (and ``z`` for heatmaps).

    This is what a chart's CSV export holds, so every chart can be exported without each
    builder writing its own export. Heatmaps are unrolled to one row per cell.
    """
    frames = []
    for i, tr in enumerate(fig.data):
        # a legend name shortened to fit (style()) keeps the full one in meta: the CSV holds that
        full = getattr(tr, "meta", None)
        name = full if isinstance(full, str) else tr.name if getattr(tr, "name", None) else f"trace {i}"
        z = getattr(tr, "z", None)
        if z is not None:
            z = np.asarray(z)
            xs = _values(tr.x) or list(range(z.shape[1]))
            ys = _values(tr.y) or list(range(z.shape[0]))
            rows = [{"trace": name, "x": xs[c], "y": ys[r], "z": z[r, c]}
                    for r in range(z.shape[0]) for c in range(z.shape[1])]
            frames.append(pd.DataFrame(rows))
            continue
        xs, ys = _values(getattr(tr, "x", None)), _values(getattr(tr, "y", None))
        if xs is None and ys is None:
            continue
        n = len(xs if xs is not None else ys)
        frames.append(pd.DataFrame({"trace": [name] * n, "x": xs if xs is not None else list(range(n)),
                                    "y": ys if ys is not None else [None] * n}))
    if not frames:
        return pd.DataFrame(columns=["trace", "x", "y"])
    return pd.concat(frames, ignore_index=True)


# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets (OWASP's CSV injection
# rule): `=HYPERLINK(...)` as a class name would become a link, `=cmd|' /C calc'!A0` a command.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# text that is a plain decimal number ("-1", "+0.5", "-2e-3"): a spreadsheet reads it as that number, never runs it
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell that a spreadsheet shows as written and never runs.

    Text starting like a formula (:data:`FORMULA_STARTS`) gets a leading single quote, which spreadsheets
    take as "this is text". Numbers are left as they are, and so is text that is a plain decimal number
    (a class named ``-1``): a negative number is a number, not a formula, and stays one when read back.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _is_text_column(column: pd.Series) -> bool:
    """Whether a column may hold text: numbers, booleans and dates are written as what they are."""
    return not (pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)
                or pd.api.types.is_datetime64_any_dtype(column))


def spreadsheet_safe(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell, column name and index label passed through :func:`spreadsheet_cell`."""
    out = table.copy()
    for i in range(out.shape[1]):  # by position: two columns may share a name
        if _is_text_column(out.iloc[:, i]):
            out.isetitem(i, out.iloc[:, i].astype(object).map(spreadsheet_cell))
    out.columns = out.columns.map(spreadsheet_cell)
    if not isinstance(out.index, pd.MultiIndex):
        out.index = out.index.map(spreadsheet_cell)
    return out


def table_csv(table: pd.DataFrame, *, index: bool = False) -> bytes:
    """``table`` as UTF-8 CSV bytes for a download: the one CSV writer of what a user opens in a spreadsheet."""
    return spreadsheet_safe(table).to_csv(index=index).encode("utf-8")


def figure_csv(fig: go.Figure) -> bytes:
    """:func:`figure_data` as UTF-8 CSV bytes (for a download button), written by :func:`table_csv`."""
    return table_csv(figure_data(fig))
