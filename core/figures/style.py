"""The look every RNN Lab figure shares, and the export of any figure as a table.

What it is: the colours (per cell type, per label, per run), the common layout (:func:`style`),
the blank figure that says why it is blank (:func:`empty_figure`), a run's legend name, and
:func:`figure_data` / :func:`figure_csv`, which turn any figure back into the table its CSV
export holds, so no figure builder writes its own export. :func:`table_csv` is the one writer of every CSV a
user downloads (a chart's, a page's table): a cell that a spreadsheet would run as a formula is written
as text (:func:`spreadsheet_cell`). Every topic module beside this one
reuses ``style``, ``run_colour`` and ``CELL_COLOURS``, so every page and the report look alike.
Every log axis goes through :func:`log_axis` (labels at powers of ten only), and numbers that may
be tiny, huge or underflowed are written by :func:`format_number` and :func:`format_log10`.

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

# Okabe-Ito colours: told apart by readers with any common colour-vision deficiency
CELL_COLOURS = {"rnn": "#D55E00", "lstm": "#0072B2", "gru": "#009E73", "hmm": "#CC79A7"}
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


def _legend_lines(fig: go.Figure, width_px: int = 520) -> int:
    """Rough number of lines a horizontal legend takes (~7 px per character, 40 px per entry's symbol)."""
    names = [tr.name for tr in fig.data if tr.name and tr.showlegend is not False]
    if not names:
        return 0
    lines, used = 1, 0
    for name in names:
        w = 40 + 7 * len(name)
        if used and used + w > width_px:
            lines, used = lines + 1, 0
        used += w
    return lines


def style(fig: go.Figure, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = HEIGHT) -> go.Figure:
    """The common look: title at the top, the legend between it and the plot, compact margins."""
    legend = _legend_lines(fig)
    top = (34 if title else 8) + 22 * legend
    fig.update_layout(title={"text": title, "y": 1.0, "yref": "container", "yanchor": "top", "pad": {"t": 10}}
                      if title else None,
                      height=height + 22 * max(legend - 1, 0), margin={"l": 10, "r": 10, "t": top + 10, "b": 10},
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
                      template="plotly_white")
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def log_axis(fig: go.Figure, axis: str = "y", values: Any = None, ticks: Sequence[float] | None = None,
             **where: Any) -> go.Figure:
    """Make ``axis`` ("x" or "y") of ``fig`` logarithmic, labelled at powers of ten only.

    Plotly's own log axis labels its minor ticks "2 3 ... 9" after each power, so 0.5 reads as 5;
    here only whole decades are ticked (``dtick`` 1, or 2, 5, 10, ... decades apart when
    ``values`` span more than a dozen) and written as powers (10⁻⁶). ``ticks``: label exactly these values
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
        name = tr.name if getattr(tr, "name", None) else f"trace {i}"
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
