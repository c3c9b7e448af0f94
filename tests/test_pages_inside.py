"""The pages that look inside the models (Gradients, Gates, Classify, HMM, Embeddings) and the Report page under
Streamlit's AppTest.

Against a run store holding tiny trained runs -- the shared RNN, LSTM and GRU of ``trained_home``
plus, built once here, an RNN and a GRU on the adding problem that recorded their gradients
through time, a memory-horizon run, a word2vec run and a GMM-HMM run -- and against an empty
home without the dataset: no exception, the expected charts (each with its CSV), widgets that
change what is shown, long work submitted as a run of its kind with the form's config (never run
in the page; here no process starts, ``test_pages.fake_launches``), and a page that says what to
do when there is nothing to show.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_runs import use_home
from streamlit.testing.v1 import AppTest
from test_pages import chart, charts, fake_launches, ok, sleeping_process, text, title_of

from rnnlab.core.config import (
    CLASSIC_CELLS,
    DataConfig,
    ExperimentConfig,
    HMMConfig,
    HMMRunConfig,
    HorizonConfig,
    TextConfig,
    Word2VecConfig,
    Word2VecRunConfig,
)
from rnnlab.core.data.datasets import resolve_config
from rnnlab.core.jobs.store import RunStore

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
    """A copy of the trained home with gradient-recording, memory-horizon, word2vec and GMM-HMM runs added (seconds)."""
    import torch

    from rnnlab.core.config import preset
    from rnnlab.core.jobs.lifecycle import run_now

    root = tmp_path_factory.mktemp("inside")
    home = root / "home"
    shutil.copytree(trained_home.home, home)
    ids = dict(trained_home.run_ids)
    data = DataConfig(imdb_path=str(trained_home.archive), val_size=2)
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home)
        store = RunStore(home / "runs")
        for cell in ("rnn", "gru"):
            cfg = preset("fast", cell=cell, task="adding", seq_len=12, train_steps=6, epochs=2, batch_size=8,
                         hidden_size=8, record_gradients=True, probe_every=2, probe_size=8, threads=1)
            ids[f"adding_{cell}"] = run_now("rnn", cfg, store).id
        horizon = HorizonConfig(task="adding", models=("rnn", "gru"), lengths=(4, 8), steps=4, evals=2,
                                hidden_size=4, batch_size=8, probe_size=8, gradient_records=1, threads=1)
        ids["horizon"] = run_now("memory-horizon", horizon, store, label="memory-horizon-adding").id
        w2v = Word2VecRunConfig(data=data, word2vec=Word2VecConfig(dim=8, min_count=1, epochs=2))
        ids["word2vec"] = run_now("word2vec", w2v, store, label="word2vec-skipgram").id
        hmm = HMMRunConfig(data=data, hmm=HMMConfig(states=2, mix=1, dim=2, n_iter=4, restarts=1,
                                                    embeddings=ids["word2vec"]))
        ids["hmm"] = run_now("hmm", hmm, store, label="gmmhmm").id
    torch.set_num_threads(threads)  # the jobs set one thread for themselves
    return InsideHome(home, trained_home.archive, ids)


@pytest.fixture
def home(inside_home, tmp_path, monkeypatch) -> InsideHome:
    """A private copy of the home, with the tiny archive as the dataset."""
    copy = tmp_path / "home"
    shutil.copytree(inside_home.home, copy)
    use_home(monkeypatch, copy, inside_home.archive)
    return InsideHome(copy, inside_home.archive, inside_home.ids)


@pytest.fixture
def launched(monkeypatch) -> list[dict]:
    """Jobs the pages submit become queued runs in the store, claimed by a sleeping process: nothing trains."""
    with sleeping_process() as pid:
        yield fake_launches(monkeypatch, pid)


def only_launch(launched: list[dict], kind: str, lane: str = "train"):
    """The one run launched, checked to be of ``kind`` in ``lane`` and to read as queued."""
    assert len(launched) == 1, [x["run"].id for x in launched]
    run = launched[0]["run"]
    assert run.kind == kind and launched[0]["lane"] == lane and run.status()["state"] == "queued"
    return run


def open_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60).run()


def titled(at: AppTest, part: str) -> dict:
    """The one chart whose title contains ``part``."""
    found = [c for c in charts(at) if part in title_of(c)]
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


NEXT_STEP = {"gradients.py": "record gradients", "gates.py": "No trained model on IMDB movie reviews yet",
             "classify.py": "No trained model on IMDB movie reviews yet",
             "hmm.py": "No GMM-HMM fitted on IMDB movie reviews yet",
             "embeddings.py": "No word2vec run on IMDB movie reviews yet"}


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


def heatmaps(at: AppTest) -> list[dict]:
    return [c for c in charts(at) if c["data"] and c["data"][0]["type"] == "heatmap"]


def test_gradients_heatmap_shows_as_many_probe_reviews_as_asked_and_says_what_white_and_grey_mean(home):
    at = ok(open_page("gradients.py"))
    (heat,) = heatmaps(at)
    assert "per probe text at step" in title_of(heat)
    probe = 8  # the fixture's probe_size
    assert at.number_input(key="grad_heat_count").value == probe  # fewer than the default: all of them
    assert len(heat["data"][0]["y"]) == probe and all(" · T=" in y for y in heat["data"][0]["y"])
    assert heat["layout"]["yaxis"]["range"] == [-0.5, probe - 0.5]  # the axis starts at the data
    at.number_input(key="grad_heat_count").set_value(3).run()
    assert len(heatmaps(ok(at))[0]["data"][0]["y"]) == 3
    assert "White: no value" in text(at) and "Grey: the gradient underflowed to exactly 0" in text(at)
    at.selectbox(key="grad_heat_rows").set_value("recordings").run()
    (heat,) = heatmaps(ok(at))
    assert "mean ||dL/dh_t|| over the probe batch" in title_of(heat)


def test_gradients_heatmaps_of_two_runs_side_by_side_on_one_colour_scale(home):
    at = ok(open_page("gradients.py"))
    first = at.selectbox(key="grad_heat_run").value
    assert at.selectbox(key="grad_heat_second").value is None  # one run unless a second is asked for
    at.selectbox(key="grad_heat_second").set_value(
        next(r for r in at.multiselect(key="grad_runs").value if r != first)).run()
    maps = heatmaps(ok(at))
    assert len(maps) == 2
    titles = [title_of(m) for m in maps]
    assert titles[0].split(":")[0] != titles[1].split(":")[0]
    scales = {(m["data"][0]["zmin"], m["data"][0]["zmax"]) for m in maps}
    assert len(scales) == 1  # comparable colours


def test_gradients_ratio_table_writes_small_numbers_readably(home):
    at = ok(open_page("gradients.py"))
    column = "median ||dL/dh_{T-k}|| / ||dL/dh_T||"
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found
    for table in found:
        for cell in table[column]:
            assert isinstance(cell, str) and not cell.startswith("0.0000"), cell


def test_explosion_text_follows_the_runs_shown(home):
    at = ok(open_page("gradients.py"))
    at.multiselect(key="grad_explode_runs").set_value([home.ids["adding_rnn"]]).run()
    lines = [m.value for m in ok(at).markdown if m.value.startswith("**rnn")
             and "the product" not in m.value and "only the bound" not in m.value]  # the Jacobian section's own lines
    assert len(lines) == 1, lines
    steps = RunStore(home.home / "runs").get(home.ids["adding_rnn"]).metrics("step")
    lost = sum(bool(r.get("skipped")) for r in steps)
    assert "peaked at" in lines[0]
    assert (f"{lost} of {len(steps)} steps had a non-finite" if lost else f"all {len(steps)} steps had a finite "
            "gradient: none was lost") in lines[0]
    assert "steps are lost" not in text(at)


def test_gradients_page_picks_the_layer_and_direction_of_a_stacked_bidirectional_run(home, one_thread):
    import numpy as np

    from rnnlab.core.analysis.gradients import load_gradients
    from rnnlab.core.config import preset
    from rnnlab.core.jobs.lifecycle import run_now

    cfg = preset("fast", cell="lstm", task="adding", seq_len=12, train_steps=6, epochs=2, batch_size=8,
                 hidden_size=8, num_layers=2, bidirectional=True, record_gradients=True, probe_every=2,
                 probe_size=8, threads=1)
    run = run_now("rnn", cfg, RunStore(home.home / "runs"))
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


def test_gradients_page_says_when_a_run_reads_out_the_mean_of_its_steps(home, one_thread):
    from rnnlab.core.config import preset
    from rnnlab.core.jobs.lifecycle import run_now

    cfg = preset("fast", cell="gru", task="adding", seq_len=12, train_steps=6, epochs=2, batch_size=8, hidden_size=8,
                 readout="mean", record_gradients=True, probe_every=2, probe_size=8, threads=1)
    run = run_now("rnn", cfg, RunStore(home.home / "runs"))
    at = open_page("gradients.py")
    at.multiselect(key="grad_runs").set_value([run.id, home.ids["adding_gru"]]).run()
    body = text(ok(at))
    assert ("reads out the mean over its steps: each step gets gradient directly from the loss, so dL/dh_t does "
            "not only flow back from the end") in body
    assert body.count("reads out the") == 1  # the run that reads its last state gets no such sentence


def test_gradients_page_shows_group_norms_with_the_clip_threshold(home):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="grad_norm_run").set_value(home.ids["adding_rnn"]).run()
    spec = titled(ok(at), "per parameter group")
    assert title_of(spec).startswith("rnn · ")
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


def run_the_horizon_form(at: AppTest) -> AppTest:
    next(b for b in at.get("form_submit_button") if b.proto.label == "Run the experiment").click().run()
    return ok(at)


def test_gradients_page_runs_the_memory_horizon_as_a_run_of_its_own(home, launched):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="horizon_task").set_value("order")
    at.text_input(key="horizon_lengths").set_value("30, 10")
    run_the_horizon_form(at)
    run = only_launch(launched, "memory-horizon")
    # every other setting the config's default (the form is generated from it): steps, threads...
    want = HorizonConfig(task="order", models=CLASSIC_CELLS, lengths=(10, 30), steps=500)
    assert run.job_config() == want  # STARTING
    assert run.config_dict()["label"] == "memory-horizon-order"
    assert at.session_state["gradients.horizon_job"] == run.id
    assert "Memory-horizon study" in text(at) and "Waiting for its turn" in text(at)
    # while it is queued the form starts nothing more
    ok(at.run())
    assert next(b for b in at.get("form_submit_button") if b.proto.label == "Run the experiment").proto.disabled


def test_gradients_page_refuses_a_length_the_task_cannot_have(home, launched):
    at = ok(open_page("gradients.py"))
    at.selectbox(key="horizon_task").set_value("order")
    at.text_input(key="horizon_lengths").set_value("3")
    run_the_horizon_form(at)
    assert not launched and any("Not started" in e.value for e in at.error)
    assert [r.kind for r in RunStore(home.home / "runs").list()].count("memory-horizon") == 1  # the fixture's


def test_explosion_demonstration_queues_its_runs_and_overlays_them(home, launched):
    from rnnlab.core.analysis.horizon import explosion_configs

    at = ok(open_page("gradients.py"))
    at.button(key="grad_explode").click().run()
    ok(at)
    configs = explosion_configs()
    assert [x["run"].kind for x in launched] == ["rnn"] * 3 and {x["lane"] for x in launched} == {"train"}
    assert [x["run"].config_dict()["label"] for x in launched] == [f"explode-{n}" for n in configs]
    assert [x["run"].config() for x in launched] == list(configs.values())
    at.run()  # the next visit: the queued runs are offered and drawn by default
    picked = at.multiselect(key="grad_explode_runs").value
    assert picked == [x["run"].id for x in launched] and all("-explode-" in r for r in picked)


# -- gates --------------------------------------------------------------------------------------------------------
def test_gates_page_shows_two_runs_side_by_side_with_gate_heatmaps(home):
    at = ok(open_page("gates.py"))
    titles = [title_of(c) for c in charts(at)]
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


def test_gates_page_sorts_units_and_puts_tokens_under_every_panel(home):
    at = ok(open_page("gates.py"))
    lstm = chart(at, "lstm · ")
    first = next(tr for tr in lstm["data"] if tr["type"] == "heatmap")
    assert first["y"] == [str(u) for u in range(len(first["y"]))]  # unit order by default
    axes = [k for k in lstm["layout"] if k.startswith("xaxis")]
    assert len(axes) > 2 and all(lstm["layout"][k].get("ticktext") for k in axes)
    assert all(tr.get("colorbar") for tr in lstm["data"] if tr["type"] == "heatmap")
    at.selectbox(key="gates_sort_0").set_value("variance").run()
    lstm = chart(ok(at), "lstm · ")
    heat = next(tr for tr in lstm["data"] if tr["type"] == "heatmap")
    import numpy as np

    spread = np.var(np.array(heat["z"], dtype=float), axis=1)  # rows as drawn: most varying first
    assert sorted(heat["y"], key=int) == [str(u) for u in range(len(heat["y"]))]
    assert np.all(np.diff(spread) <= 1e-12)
    at.selectbox(key="gates_sort_0").set_value("correlation").run()
    ok(at)


def test_gates_page_greys_words_that_preprocessing_removed(home):
    at = open_page("gates.py")
    at.text_area(key="gates_text").set_value("the film was wonderful !!!").run()
    html = " ".join(str(h.proto.body) for h in ok(at).get("html"))
    assert "removed: stop word" in html or "removed: punctuation" in html


def test_gates_page_shows_each_word_the_model_did_not_read_and_why(home):
    at = open_page("gates.py")
    at.text_area(key="gates_text").set_value("not good at all, the plot was boring").run()
    body = " ".join(m.value for m in ok(at).markdown)
    assert "What the model read" in body
    html = " ".join(str(h.proto.body) for h in at.get("html"))
    assert ">not<" in html and "stop word" in html  # the negation is shown, with the reason it was dropped


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


def fit_hmm(at: AppTest, states: int, limit: int) -> AppTest:
    at.number_input(key="hmm_states").set_value(states)
    at.number_input(key="hmm_limit").set_value(limit)
    at.number_input(key="hmm_dim").set_value(2)  # the fixture's vectors have 8 dimensions: the default 12 is refused
    at.get("form_submit_button")[0].click().run()
    return ok(at)


def test_hmm_fit_button_queues_an_hmm_run_on_the_newest_word2vec_vectors(home, launched):
    at = fit_hmm(ok(open_page("hmm.py")), states=3, limit=200)
    run = only_launch(launched, "hmm")
    assert run.config_dict()["label"] == "gmmhmm"
    assert run.job_config() == resolve_config(HMMRunConfig(data=DataConfig(), text=TextConfig(),
                                                           hmm=HMMConfig(states=3, limit=200, dim=2,
                                                                         embeddings=home.ids["word2vec"])))
    assert "GMM-HMM fit" in text(at) and "Waiting for its turn" in text(at)
    assert ok(at.run()).get("form_submit_button")[0].proto.disabled  # one fit at a time from this page
    at.button(key=f"hmm.job.cancel.{run.id}").click().run()
    assert run.cancel_requested


def test_hmm_fit_without_word2vec_vectors_queues_them_first_and_the_fit_reads_them(home, launched):
    store = RunStore(home.home / "runs")
    store.delete(home.ids["word2vec"])
    at = fit_hmm(ok(open_page("hmm.py")), states=3, limit=200)
    assert [(x["run"].kind, x["lane"]) for x in launched] == [("word2vec", "train"), ("hmm", "train")]
    w2v, fit = (x["run"] for x in launched)
    assert w2v.config_dict()["label"] == "word2vec-skipgram"
    assert w2v.job_config() == resolve_config(Word2VecRunConfig(data=DataConfig(limit=200), text=TextConfig()))
    assert fit.job_config().hmm.embeddings == w2v.id  # queued after the vectors it reads
    assert "Word2vec vectors for the fit" in text(at) and "GMM-HMM fit" in text(at)


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


def test_embeddings_train_button_queues_a_word2vec_run(home, launched):
    at = ok(open_page("embeddings.py"))
    at.selectbox(key="w2v_algo").set_value("cbow")
    at.get("form_submit_button")[0].click().run()
    ok(at)
    run = only_launch(launched, "word2vec")
    assert run.config_dict()["label"] == "word2vec-cbow"
    # the form's defaults are the config's: every text, gensim's settings (min_count fitted to the corpus)
    assert run.job_config() == resolve_config(Word2VecRunConfig(data=DataConfig(limit=5000), text=TextConfig(),
                                                                word2vec=Word2VecConfig(algo="cbow")))
    assert "Word2vec training" in text(at) and "Waiting for its turn" in text(at)


# -- report -------------------------------------------------------------------------------------------------------
def open_report() -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / "report.py"), default_timeout=60).run()


def test_report_page_without_a_report_says_how_to_make_one(rnnlab_home):
    at = ok(open_report())
    assert any("No report on IMDB movie reviews yet" in i.value for i in at.info)


def experiment_run(store: RunStore, state: str, report: str):
    from rnnlab.core.report.experiment import report_folder

    run = store.create(ExperimentConfig(), kind="experiment", label="experiment-seed")
    run.update_status(state=state)
    report_folder(run).mkdir()
    (report_folder(run) / "report.md").write_text(report)
    return run


def test_report_page_shows_the_report_of_the_newest_finished_experiment(rnnlab_home):
    store = RunStore(rnnlab_home / "runs")
    experiment_run(store, "finished", "# An older report\n")
    experiment_run(store, "finished", "# RNN Lab: the seed report's comparison\n\n| model |\n|---|\n| gru |\n")
    experiment_run(store, "failed", "# A report cut short\n")  # newer, but it did not finish
    at = ok(open_report())
    body = " ".join(m.value for m in at.markdown)
    assert "seed report's comparison" in body and "older" not in body and "cut short" not in body
    assert at.get("download_button")


def test_report_page_queues_the_experiment_as_a_run_with_the_form_settings(rnnlab_home, launched):
    at = ok(open_report())
    at.text_input[0].set_value("0, 1")
    at.checkbox[2].uncheck()  # no ablations: no word2vec arm either
    at.get("form_submit_button")[0].click().run()
    ok(at)
    run = only_launch(launched, "experiment")
    assert run.config_dict()["label"] == "experiment-seed"
    # every other setting the config's default (the form is generated from it)
    assert run.job_config() == ExperimentConfig(preset="fast", limit=2000, seeds=(0, 1), horizon=True, hmm=True,
                                                ablations=False)
    assert "The seed comparison" in text(at) and "Waiting for its turn" in text(at)


def test_report_page_refuses_seeds_that_are_not_numbers(rnnlab_home, launched):
    at = ok(open_report())
    at.text_input[0].set_value("0, one")
    at.get("form_submit_button")[0].click().run()
    assert not launched and any("Not started" in e.value for e in ok(at).error)
    assert RunStore(rnnlab_home / "runs").list() == []
