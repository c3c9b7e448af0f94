"""core.figures.style: the shared look, run labels and colours, and the CSV export of any figure."""

from __future__ import annotations

import io

import pandas as pd
import plotly.graph_objects as go

from core.figures import style


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
    assert set(style.CELL_COLOURS.values()) <= okabe_ito and len(set(style.CELL_COLOURS.values())) == 4


def test_the_hmm_class_colours_are_the_label_colours():
    from core.figures.hmm import CLASS_COLOURS

    assert CLASS_COLOURS == {"negative": style.LABEL_COLOURS["neg"], "positive": style.LABEL_COLOURS["pos"]}
