"""core.figures.style: the shared look, run labels and colours, and the CSV export of any figure."""

from __future__ import annotations

import io

import pandas as pd
import plotly.graph_objects as go
import pytest

from rnnlab.core.config import CELLS
from rnnlab.core.figures import layout, style


def test_figure_data_has_one_row_per_drawn_point_and_round_trips_through_csv():
    fig = go.Figure([go.Scatter(name="a", x=[1, 2, 3], y=[0.5, 0.25, 0.125]), go.Bar(name="b", x=["p", "q"], y=[7, 9])])
    table = style.figure_data(fig)
    assert list(table.columns) == ["trace", "x", "y"]
    assert table.groupby("trace").size().to_dict() == {"a": 3, "b": 2}
    back = pd.read_csv(io.BytesIO(style.figure_csv(fig)))
    assert back[back["trace"] == "a"]["y"].tolist() == [0.5, 0.25, 0.125]
    assert back[back["trace"] == "b"]["x"].tolist() == ["p", "q"]


def test_figure_data_unrolls_a_heatmap_into_one_row_per_cell():
    fig = go.Figure(go.Heatmap(name="cm", z=[[1, 2], [3, 4]], x=["c0", "c1"], y=["r0", "r1"]))
    table = style.figure_data(fig)
    assert len(table) == 4
    cell = table[(table["x"] == "c1") & (table["y"] == "r0")]
    assert cell["z"].item() == 2


def test_run_label_is_the_model_and_the_ids_random_suffix():
    assert style.run_label("20260101-120000-lstm-3f2a1c", "lstm") == "lstm · 3f2a1c"
    assert style.run_label("abc", None) == "abc"


def test_a_longer_legend_gets_more_room_above_the_plot():
    def fig_with(n: int) -> go.Figure:
        return style.style(go.Figure([go.Scatter(name=f"a fairly long run name {i}", x=[0], y=[0])
                                       for i in range(n)]), "title")

    one, many = fig_with(1), fig_with(12)
    assert many.layout.margin.t > one.layout.margin.t
    assert many.layout.height > one.layout.height


def test_cell_colour_is_the_cell_types_colour_with_the_gmm_hmm_drawn_as_hmm():
    assert style.cell_colour("lstm", 5) == style.CELL_COLOURS["lstm"]
    assert style.cell_colour("gmmhmm", 0) == style.CELL_COLOURS["hmm"]
    assert style.cell_colour("transformer", 2) == style.run_colour(2)  # unknown cells take the run colour


def test_an_empty_figure_says_why_and_exports_no_rows():
    fig = style.empty_figure("no runs yet", "Title")
    assert not fig.data and fig.layout.annotations[0].text == "no runs yet"
    assert style.figure_data(fig).empty


def test_label_and_cell_colours_are_okabe_ito_never_red_against_green():
    okabe_ito = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}
    assert (style.LABEL_COLOURS["neg"], style.LABEL_COLOURS["pos"]) == ("#E69F00", "#0072B2")
    assert set(style.CELL_COLOURS.values()) <= okabe_ito
    # every cell and the GMM-HMM its own colour, and every cell of the project has one
    assert len(set(style.CELL_COLOURS.values())) == len(style.CELL_COLOURS) and set(CELLS) < set(style.CELL_COLOURS)


def test_the_hmm_class_colours_are_the_label_colours():
    from rnnlab.core.figures.hmm import CLASS_COLOURS

    assert CLASS_COLOURS == {"negative": style.LABEL_COLOURS["neg"], "positive": style.LABEL_COLOURS["pos"]}


def test_a_long_title_is_wrapped_to_the_width_and_each_line_makes_room_for_itself():
    short = style.style(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), "Loss")
    long_title = "lstm · seed · all reviews · 5 ep · len 500 · emb 100 · h50 · batch 50 · 8ec553: attribution per token"
    fig = style.style(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), long_title)
    lines = layout.lines(fig.layout.title.text)
    assert len(lines) >= 3 and " ".join(lines) == long_title  # wrapped, nothing lost
    assert all(layout.text_width(line, layout.TITLE_FONT) <= layout.NARROW - 2 * style.SIDE for line in lines)
    extra = (len(lines) - 1) * layout.LINE * layout.TITLE_FONT
    assert fig.layout.margin.t - short.layout.margin.t == pytest.approx(extra, abs=1)
    # the plot keeps at least the size it has under a one-line title and a one-row legend
    assert fig.layout.height - fig.layout.margin.t >= style.HEIGHT - style.USUAL_TOP - 1


def test_shortened_legend_names_stay_distinct_and_the_csv_keeps_the_full_ones():
    names = [f"sentiment baseline · lstm · seed · all reviews · 5 ep · keep negations · len 250 · 00{i}ec{i}"
             for i in range(3)]
    fig = style.style(go.Figure([go.Scatter(name=n, x=[0, 1], y=[i, i]) for i, n in enumerate(names)]), "Runs")
    shown = [tr.name for tr in fig.data]
    assert len(set(shown)) == 3 and all(s != n for s, n in zip(shown, names, strict=True))
    assert all(layout.LEGEND_ENTRY + layout.text_width(s) <= style.legend_room(fig) for s in shown)
    assert list(dict.fromkeys(style.figure_data(fig)["trace"])) == names


def test_whole_numbers_over_a_short_span_are_ticked_at_whole_numbers_only():
    fig = style.integer_axis(go.Figure(go.Scatter(x=[1, 2, 3], y=[0.5, 0.6, 0.7])), "x", [1, 2, 3])
    assert (fig.layout.xaxis.tickmode, fig.layout.xaxis.dtick) == ("linear", 1)
    assert layout.labelled_ticks(fig.layout.xaxis, [1, 2, 3], finest=True) == [1, 2, 3]
    long = style.integer_axis(go.Figure(go.Scatter(x=list(range(200)), y=[0] * 200)), "x", range(200))
    assert long.layout.xaxis.dtick is None  # Plotly's own steps over 200 are whole: 20, 50 ...


def test_log_ticks_write_plain_numbers_where_fewer_than_two_powers_of_ten_lie():
    assert style.log_ticks(1e-6, 1.0) is None  # the powers of ten say it
    vals, text = style.log_ticks(0.158, 0.165)
    assert len(vals) >= 2 and all(0.158 <= v <= 0.165 for v in vals) and len(set(text)) == len(text)
    vals, text = style.log_ticks(0.2, 0.9)
    assert vals == [0.2, 0.5] and text == ["0.2", "0.5"]


def test_plain_ticks_mark_every_distinct_value_or_round_steps_never_between_whole_numbers():
    assert style.plain_ticks([0, 1, 2, 1]) == {"tickvals": [0.0, 1.0, 2.0], "ticktext": ["0", "1", "2"]}
    many = style.plain_ticks(range(0, 37))
    assert all(float(t).is_integer() for t in many["tickvals"]) and len(many["tickvals"]) >= 2
    close = style.plain_ticks([0.158, 0.159, 0.165])
    assert close["ticktext"] == ["0.158", "0.159", "0.165"]  # as many digits as tell them apart


def test_bar_labels_get_the_room_they_need_above_the_tallest_bar():
    fig = go.Figure(go.Bar(x=["a", "b"], y=[30_200, 30_400], text=["30,200", "30,400"]))
    style.style(fig, "Recurrent parameters")
    style.bar_labels(fig, rotate=True)
    box = layout.plot_box(fig, layout.NARROW)
    top = fig.layout.yaxis.range[1]
    assert fig.data[0].cliponaxis is False and fig.data[0].textangle == -90
    assert (top - 30_400) / top * box.height >= layout.text_width("30,400")  # "30,400" whole, not "30,40"


def test_category_labels_are_fitted_and_distinct_with_the_full_label_kept_as_the_category():
    labels = [f"sentiment baseline · gru · seed · all reviews · 5 ep · len 250 · 00{i}ec{i}" for i in range(8)]
    fig = go.Figure(go.Bar(x=labels, y=list(range(8))))
    extent = style.category_labels(fig, "x", labels)
    axis = fig.layout.xaxis
    assert list(axis.tickvals) == labels and len(set(axis.ticktext)) == 8 and axis.tickangle == -90
    assert extent <= style.X_LABEL_ROOM * style.HEIGHT + layout.TICK_PAD
    assert all(t.endswith(f"00{i}ec{i}") for i, t in enumerate(axis.ticktext))  # the ends, where they differ
