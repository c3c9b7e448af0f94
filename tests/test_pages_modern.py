"""The pages that list cells, opened with runs of the modern cells (minGRU, minLSTM, LRU) beside the classic ones.

Against a copy of the trained home (the classic RNN, LSTM and GRU) with a tiny minGRU, minLSTM and LRU added, each
recording its gradients: every page opens without an exception and shows the new cells as it shows the old ones --
the decay of the gradient in each cell's colour, the LRU's eigenvalues over training, gates per token, a neuron
search, a verdict per model, a row per run.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures_runs import tiny_config, use_home
from streamlit.testing.v1 import AppTest
from test_pages import chart, charts, ok, rows, text, title_of

from rnnlab.core.analysis.neurons import NeuronSearchConfig, unit_contexts
from rnnlab.core.config import MODERN_CELLS
from rnnlab.core.figures.style import CELL_COLOURS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def modern_home(trained_home, tmp_path_factory) -> tuple[Path, Path, dict[str, str]]:
    """The trained home with a GRU, a minGRU, a minLSTM and an LRU that recorded their gradients (seconds)."""
    import torch

    from rnnlab.core.jobs.lifecycle import run_now
    from rnnlab.core.jobs.store import RunStore

    home = tmp_path_factory.mktemp("modern") / "home"
    shutil.copytree(trained_home.home, home)
    ids = dict(trained_home.run_ids)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store = RunStore(home / "runs")
        for cell in ("gru", *MODERN_CELLS):  # the shared GRU records no gradients: one that does
            cfg = tiny_config(cell, trained_home.archive, epochs=2, record_gradients=True, probe_every=2,
                              probe_size=4, lr=1e-2)
            ids[f"{cell}_recorded" if cell == "gru" else cell] = run_now("rnn", cfg, store).id
    torch.set_num_threads(threads)  # the jobs set one thread for themselves
    return home, trained_home.archive, ids


@pytest.fixture
def home(modern_home, tmp_path, monkeypatch) -> dict[str, str]:
    copy = tmp_path / "home"
    shutil.copytree(modern_home[0], copy)
    use_home(monkeypatch, copy, modern_home[1])
    return modern_home[2]


def open_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60).run()


def test_gradients_page_draws_the_modern_cells_beside_the_gru_and_the_lrus_eigenvalues(home):
    at = ok(open_page("gradients.py"))
    at.multiselect(key="grad_runs").set_value([home["gru_recorded"], home["mingru"], home["lru"]]).run()
    ok(at)
    decay = chart(at, "||dL/dh_t|| against")
    colours = {tr["name"].split(" ")[0]: tr["line"]["color"] for tr in decay["data"]}
    assert colours == {c: CELL_COLOURS[c] for c in ("gru", "mingru", "lru")}
    # the LRU's eigenvalues: inside the unit circle, at initialisation and at the last recording
    plane = next(c for c in charts(at) if "λ in the complex plane" in title_of(c))
    assert title_of(plane).startswith("lru")
    names = [tr["name"] for tr in plane["data"]]
    assert names[0] == "|λ| = 1" and names[1].startswith("initialisation") and len(names) == 3
    for tr in plane["data"][1:]:
        assert all(x * x + y * y < 1 for x, y in zip(tr["x"], tr["y"], strict=True))
    scales = next(c for c in charts(at) if "memory time scale" in title_of(c))
    assert scales["layout"]["yaxis"]["type"] == "log"
    assert "At initialisation (step 0) the time scales" in text(at)
    assert "h_t in these charts is its memory (state_real, state_imag)" in text(at)  # the LRU's h is its state
    # at the start of training only the initial eigenvalues are drawn
    at.slider(key="grad_moment").set_value(0.0).run()
    plane = next(c for c in charts(ok(at)) if "λ in the complex plane" in title_of(c))
    assert len(plane["data"]) == 2
    # without an LRU among the runs shown, the section says why there is nothing to draw
    at.multiselect(key="grad_runs").set_value([home["gru_recorded"], home["minlstm"]]).run()
    assert not any("λ in the complex plane" in title_of(c) for c in charts(ok(at)))
    assert "compute their decay from each input" in text(at)


def test_gates_page_shows_each_modern_cells_own_gates(home):
    at = ok(open_page("gates.py"))
    at.selectbox(key="gates_run_0").set_value(home["mingru"]).run()
    at.selectbox(key="gates_run_1").set_value(home["lru"]).run()
    ok(at)
    mingru, lru = chart(at, "mingru · "), chart(at, "lru · ")
    assert {tr["name"] for tr in mingru["data"]} >= {"update_gate", "candidate", "hidden"}
    assert {tr["name"] for tr in lru["data"]} >= {"state_real", "state_imag", "hidden"}
    # the neuron search reads the LRU's complex state through its scan
    at.selectbox(key="gates_neurons_run").set_value(home["lru"]).run()
    at.radio(key="gates_neurons_mode").set_value("unit").run()
    at.selectbox(key="gates_neurons_state_lru").set_value("state_imag")
    at.number_input(key="gates_neurons_unit").set_value(2)
    at.number_input(key="gates_neurons_top").set_value(3)
    ok(at.button(key="gates_neurons_go").click().run())
    expected = unit_contexts(home["lru"], "0:0:2:state_imag", NeuronSearchConfig(top=3))
    assert "unit `0:0:2:state_imag`" in text(at)
    assert rows(at, "context")["activation"].tolist() == pytest.approx(
        [c.activation for c in expected.highest + expected.lowest])


def test_classify_and_compare_list_every_cell(home):
    at = ok(open_page("classify.py"))
    assert set(at.dataframe[0].value["model"]) >= {"rnn", "lstm", "gru", *MODERN_CELLS}
    at = ok(open_page("compare.py"))
    table = rows(at, "run_id")
    assert {home[c] for c in ("gru", *MODERN_CELLS)} <= set(table["run_id"])
