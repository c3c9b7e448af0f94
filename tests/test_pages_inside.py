"""The pages that look inside the models (Gradients, Gates, Classify, HMM, Embeddings) under Streamlit's AppTest.

Against a run store holding tiny trained runs -- the shared RNN, LSTM and GRU of ``trained_home``
plus, built once here, an RNN and a GRU on the adding problem that recorded their gradients
through time, a word2vec run and a GMM-HMM run -- and against an empty home without the
dataset: no exception, the expected charts (each with its CSV), widgets that change what is
shown, long work launched as a separate process (never run in the page), and a page that says
what to do when there is nothing to show.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_runs import use_home
from streamlit.testing.v1 import AppTest
from test_pages import chart, charts, ok, text

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["gradients.py", "gates.py", "classify.py", "hmm.py", "embeddings.py"]
MIN_CHARTS = {"gradients.py": 5, "gates.py": 4, "classify.py": 1, "hmm.py": 5, "embeddings.py": 3}


@dataclass(frozen=True)
class InsideHome:
    home: Path
    archive: Path
    ids: dict[str, str]  # the trained_home ids plus "adding_rnn", "adding_gru", "horizon", "word2vec", "hmm"


@pytest.fixture(scope="module")
def inside_home(trained_home, tmp_path_factory) -> InsideHome:
    """A copy of the trained home with gradient-recording, word2vec and GMM-HMM runs added (seconds)."""
    from core.analysis.horizon import HorizonSettings, memory_horizon
    from core.config import DataConfig, preset
    from core.jobs.lifecycle import execute
    from core.jobs.store import RunStore
    from core.models.hmm import HMMConfig, train_hmm_run
    from core.models.word2vec import Word2VecConfig, train_word2vec

    root = tmp_path_factory.mktemp("inside")
    home = root / "home"
    shutil.copytree(trained_home.home, home)
    ids = dict(trained_home.run_ids)
    data = DataConfig(imdb_path=str(trained_home.archive), val_size=2)
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store = RunStore(home / "runs")
        for cell in ("rnn", "gru"):
            cfg = preset("fast", cell=cell, task="adding", seq_len=12, train_steps=6, epochs=2, batch_size=8,
                         hidden_size=8, record_gradients=True, probe_every=2, probe_size=8, threads=1)
            ids[f"adding_{cell}"] = execute(cfg, store).id
        horizon = HorizonSettings(task="adding", models=("rnn", "gru"), lengths=(4, 8), steps=4, evals=2,
                                  hidden_size=4, batch_size=8, probe_size=8, gradient_records=1)
        ids["horizon"] = memory_horizon(horizon, store)[0].id
        ids["word2vec"] = train_word2vec(Word2VecConfig(dim=8, min_count=1, epochs=2), data, store=store).id
        ids["hmm"] = train_hmm_run(HMMConfig(states=2, mix=1, dim=2, n_iter=4, restarts=1, embeddings=ids["word2vec"]),
                                   data, store=store).id
    return InsideHome(home, trained_home.archive, ids)


@pytest.fixture
def home(inside_home, tmp_path, monkeypatch) -> InsideHome:
    """A private copy of the home, with the tiny archive as the dataset."""
    copy = tmp_path / "home"
    shutil.copytree(inside_home.home, copy)
    use_home(monkeypatch, copy, inside_home.archive)
    return InsideHome(copy, inside_home.archive, inside_home.ids)


class FakePopen:
    """Stands in for ``subprocess.Popen``: records the command, never starts anything, stays 'running'."""

    calls: list[list[str]] = []

    def __init__(self, args, **kwargs):
        FakePopen.calls.append(list(args))
        self.kwargs = kwargs
        self.pid = 1

    def poll(self):
        return None


@pytest.fixture
def fake_popen(monkeypatch) -> list[list[str]]:
    FakePopen.calls = []
    monkeypatch.setattr(subprocess, "Popen", FakePopen)
    return FakePopen.calls


def open_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60).run()


def titled(at: AppTest, part: str) -> dict:
    """The one chart whose title contains ``part``."""
    found = [c for c in charts(at) if part in ((c["layout"].get("title") or {}).get("text") or "")]
    assert len(found) == 1, f"{len(found)} charts with {part!r} in the title"
    return found[0]


def csv_buttons(at: AppTest) -> int:
    return sum(1 for b in at.get("download_button") if b.proto.label == "CSV")


# -- every page ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_inside_page_renders_with_runs_and_every_chart_exports_csv(home, page):
    at = ok(open_page(page))
    n = len(at.get("plotly_chart"))
    assert n >= MIN_CHARTS[page]
    assert csv_buttons(at) == n
    assert not at.error


NEXT_STEP = {"gradients.py": "record gradients", "gates.py": "No trained sentiment model yet",
             "classify.py": "No trained sentiment model yet", "hmm.py": "No GMM-HMM fitted yet",
             "embeddings.py": "No word2vec run yet"}


@pytest.mark.parametrize("page", PAGES)
def test_every_inside_page_works_with_zero_runs_and_no_dataset_and_says_what_to_do(rnnlab_home, page):
    at = ok(open_page(page))
    assert NEXT_STEP[page] in text(at)


# -- gradients ----------------------------------------------------------------------------------------------------
def test_gradients_page_draws_rnn_and_gru_decay_on_one_axis_and_the_moment_slider_moves_it(home):
    at = ok(open_page("gradients.py"))
    decay = chart(at, "||dL/dh_t|| against")
    names = [tr["name"] for tr in decay["data"]]
    assert any(n.startswith("rnn") for n in names) and any(n.startswith("gru") for n in names)
    assert decay["layout"]["yaxis"]["type"] == "log"
    assert chart(at, "Jacobian product")["data"]
    heat = chart(at, "rnn")  # the heatmap of the first run
    assert heat["data"][0]["type"] == "heatmap"
    at.slider(key="grad_moment").set_value(0.0).run()
    ok(at)
    after = [tr["name"] for tr in chart(at, "||dL/dh_t|| against")["data"]]
    assert all("@ step 0" in n for n in after) and after != names


def test_gradients_page_picks_the_layer_and_direction_of_a_stacked_bidirectional_run(home):
    import numpy as np

    from core.analysis.gradients import load_gradients
    from core.config import preset
    from core.jobs.lifecycle import execute
    from core.jobs.store import RunStore

    cfg = preset("fast", cell="lstm", task="adding", seq_len=12, train_steps=6, epochs=2, batch_size=8,
                 hidden_size=8, num_layers=2, bidirectional=True, record_gradients=True, probe_every=2,
                 probe_size=8, threads=1)
    run = execute(cfg, RunStore(home.home / "runs"))
    at = open_page("gradients.py")
    at.multiselect(key="grad_runs").set_value([run.id]).run()
    at.selectbox(key="grad_layer").set_value(1).run()
    at.selectbox(key="grad_direction").set_value(1).run()
    ok(at)
    rec = load_gradients(run.file("gradients.npz"))
    want = rec["dh_mean"][-1, 1, 1]  # the last recording, layer 2, backward direction
    assert not np.allclose(want, rec["dh_mean"][-1, 0, 0])  # the choice matters
    got = np.array(chart(at, "||dL/dh_t|| against")["data"][0]["y"], dtype=float)
    assert np.allclose(got, want[: len(got)], equal_nan=True)


def test_gradients_page_shows_group_norms_with_the_clip_threshold(home):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="grad_norm_run").set_value(home.ids["adding_rnn"]).run()
    spec = titled(ok(at), "per parameter group")
    assert spec["layout"]["title"]["text"].startswith("rnn · ")
    names = [tr["name"] for tr in spec["data"]]
    assert "hidden-hidden" in names and "global (before clipping)" in names
    assert any(n.startswith("clip threshold") for n in names)


def test_gradients_page_shows_the_memory_horizon_of_each_model(home):
    at = ok(open_page("gradients.py"))
    spec = chart(at, "Memory horizon (adding)")
    lines = {tr["name"]: tr for tr in spec["data"] if tr.get("mode") == "lines+markers"}
    assert set(lines) == {"RNN", "GRU"} and list(lines["RNN"]["x"]) == [4, 8]
    assert any(tr["name"].startswith("solved <") for tr in spec["data"])
    table = next(d.value for d in at.dataframe if "steps_to_success" in d.value.columns)
    assert len(table) == 4


def test_gradients_page_runs_the_memory_horizon_in_its_own_process(home, fake_popen):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="horizon_task").set_value("order")
    at.text_input(key="horizon_lengths").set_value("30, 10")
    next(b for b in at.get("form_submit_button") if b.proto.label == "Run the experiment").click().run()
    ok(at)
    assert len(fake_popen) == 1
    cmd = fake_popen[0]
    assert cmd[1:4] == ["-m", "core", "memory-horizon"]
    assert cmd[cmd.index("--task") + 1] == "order" and cmd[cmd.index("--lengths") + 1] == "10,30"
    assert "Running" in text(at)


def test_gradients_page_refuses_a_length_the_task_cannot_have(home, fake_popen):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="horizon_task").set_value("order")
    at.text_input(key="horizon_lengths").set_value("3")
    next(b for b in at.get("form_submit_button") if b.proto.label == "Run the experiment").click().run()
    assert not fake_popen and any("Not started" in e.value for e in ok(at).error)


def test_explosion_demonstration_queues_its_runs_and_overlays_them(home, fake_popen):
    at = ok(open_page("gradients.py"))
    at.button(key="grad_explode").click().run()
    ok(at)
    assert len(fake_popen) == 3 and all(c[1:4] == ["-m", "core", "train"] for c in fake_popen)
    at.run()  # the next visit: the queued runs are offered and drawn by default
    picked = at.multiselect(key="grad_explode_runs").value
    assert len(picked) == 3 and all("-explode-" in r for r in picked)


# -- gates --------------------------------------------------------------------------------------------------------
def test_gates_page_shows_two_runs_side_by_side_with_gate_heatmaps(home):
    at = ok(open_page("gates.py"))
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert any(t.startswith("lstm") and "gates" in t for t in titles)
    assert any(t.startswith("gru") and "gates" in t for t in titles)
    lstm = chart(at, "lstm · ")
    assert {tr["name"] for tr in lstm["data"]} >= {"input_gate", "forget_gate", "output_gate", "cell", "hidden"}
    assert len(at.get("metric")) == 2


def test_gates_page_follows_the_typed_text_and_the_state_choice(home):
    at = ok(open_page("gates.py"))
    before = chart(at, "lstm · ")["data"][-2]["customdata"]
    at.text_area(key="gates_text").set_value("great great film").run()
    after = chart(ok(at), "lstm · ")["data"][-2]["customdata"]
    assert before != after and len(after) <= 3
    at.multiselect(key="gates_states_0_lstm").set_value(["hidden"]).run()
    assert [tr["name"] for tr in chart(ok(at), "lstm · ")["data"]][0] == "hidden"


def test_gates_page_greys_words_that_preprocessing_removed(home):
    at = open_page("gates.py")
    at.text_area(key="gates_text").set_value("the film was wonderful !!!").run()
    html = " ".join(str(h.proto.body) for h in ok(at).get("html"))
    assert "removed: stop word" in html or "removed: punctuation" in html


def test_gates_page_can_pick_a_test_review(home):
    at = ok(open_page("gates.py"))
    at.radio(key="gates_source").set_value("A test review").run()
    ok(at)
    assert "True label" in text(at)


# -- classify -----------------------------------------------------------------------------------------------------
def test_classify_page_asks_every_model_including_the_hmm(home):
    at = ok(open_page("classify.py"))
    bars = chart(at, "P(positive)")
    runs = bars["data"][0]["y"]
    assert len(runs) == 4  # rnn, lstm, gru and the GMM-HMM; the failed run and word2vec are not models
    table = at.dataframe[0].value
    assert set(table["model"]) == {"rnn", "lstm", "gru", "gmmhmm"}


def test_classify_example_button_changes_the_text_and_the_tokens(home):
    at = ok(open_page("classify.py"))
    before = at.dataframe[0].value["n_tokens"].tolist()
    at.button(key="classify_example_Negation").click().run()
    ok(at)
    assert at.text_area(key="classify_text").value.startswith("This is not a good movie")
    assert at.dataframe[0].value["n_tokens"].tolist() != before


# -- hmm ----------------------------------------------------------------------------------------------------------
def test_hmm_page_shows_the_fit_the_chain_and_the_viterbi_path(home):
    at = ok(open_page("hmm.py"))
    assert chart(at, "Baum-Welch")["data"]
    trans = chart(at, "Transition matrices")
    assert sum(1 for tr in trans["data"] if tr["type"] == "heatmap") == 2
    assert chart(at, "Stationary")["data"]
    html = " ".join(str(h.proto.body) for h in at.get("html"))
    assert "state s" in html
    beside = [str(x) for x in chart(at, "Test metrics")["data"][0]["x"]]
    assert any(x.startswith("gmmhmm") for x in beside) and any(x.startswith("lstm") for x in beside)


def test_hmm_page_follows_the_review_and_the_chosen_viterbi_path(home):
    at = ok(open_page("hmm.py"))
    at.text_area(key="hmm_text").set_value("film film review").run()
    path = " ".join(str(h.proto.body) for h in ok(at).get("html"))
    assert path.count("state s") == 3  # every token has a vector in the tiny corpus
    at.radio(key="hmm_path").set_value("negative").run()
    assert "state s" in " ".join(str(h.proto.body) for h in ok(at).get("html"))
    at.text_area(key="hmm_text").set_value("").run()
    assert "(no tokens)" in " ".join(str(h.proto.body) for h in ok(at).get("html"))


def test_hmm_fit_button_launches_the_cli_in_its_own_process(home, fake_popen):
    at = ok(open_page("hmm.py"))
    at.number_input(key="hmm_states").set_value(3)
    at.number_input(key="hmm_limit").set_value(200)
    at.get("form_submit_button")[0].click().run()
    ok(at)
    assert len(fake_popen) == 1
    cmd = fake_popen[0]
    assert cmd[1:4] == ["-m", "core", "hmm"]
    assert cmd[cmd.index("--states") + 1] == "3" and cmd[cmd.index("--limit") + 1] == "200"
    assert "Fitting" in text(at)


# -- embeddings ---------------------------------------------------------------------------------------------------
def test_embeddings_page_lists_neighbours_of_the_chosen_word(home):
    at = ok(open_page("embeddings.py"))
    at.text_input(key="w2v_word").set_value("film").run()
    ok(at)
    bars = chart(at, "Nearest neighbours of “film”")
    assert "film" not in bars["data"][0]["y"] and len(bars["data"][0]["y"]) >= 3
    assert chart(at, "Word map")["data"]


def test_embeddings_page_warns_about_a_word_without_a_vector(home):
    at = ok(open_page("embeddings.py"))
    at.text_input(key="w2v_word").set_value("zzyzx").run()
    assert any("has no vector" in w.value for w in ok(at).warning)


def test_embeddings_train_button_launches_the_cli_in_its_own_process(home, fake_popen):
    at = ok(open_page("embeddings.py"))
    at.radio(key="w2v_algo").set_value("cbow")
    at.get("form_submit_button")[0].click().run()
    ok(at)
    assert len(fake_popen) == 1
    cmd = fake_popen[0]
    assert cmd[1:5] == ["-m", "core", "embeddings", "train"] and cmd[cmd.index("--algo") + 1] == "cbow"


def test_report_page_without_a_report_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_HOME", str(tmp_path))
    at = AppTest.from_file(str(ROOT / "pages" / "report.py"), default_timeout=60).run()
    assert not at.exception
    assert any("No report yet" in i.value for i in at.info)


def test_report_page_shows_a_generated_report(tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_HOME", str(tmp_path))
    (tmp_path / "report").mkdir()
    report = "# RNN Lab: the seed report's comparison\n\n| model |\n|---|\n| gru |\n"
    (tmp_path / "report" / "report.md").write_text(report)
    at = AppTest.from_file(str(ROOT / "pages" / "report.py"), default_timeout=60).run()
    assert not at.exception
    assert any("seed report's comparison" in m.value for m in at.markdown)
