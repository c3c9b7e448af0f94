"""One dataset at a time: every page that shows runs shows the chosen dataset's only, and the choice holds across pages.

Against a store with runs on two datasets -- the tiny IMDB archive (the shared RNN, LSTM, GRU and failed
run, a GRU that recorded its gradients, word2vec vectors, a GMM-HMM) and a three-class dataset added
with ``data add`` (an LSTM that recorded its gradients, word2vec vectors, a GMM-HMM) -- plus vectors
imported from elsewhere (which belong to no dataset): Overview, Compare, Gradients, Gates, Classify, HMM,
Embeddings and Report list the chosen dataset's runs and never another's; a choice made on one page is
the default on the next (AppTest runs one page at a time: the session's choice is carried over as the
browser's session would); a newer run on another dataset does not move it; the forms launch on the chosen
dataset; and a setting the dataset cannot fit is refused on the Train page with the value that would
fit, before any run exists.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_runs import tiny_config, use_home
from streamlit.testing.v1 import AppTest
from test_datasets import WORDS, sentences, write_csv
from test_pages import fake_launches, ok, rows, sleeping_process, text

from rnnlab.core.config import DataConfig, HMMConfig, HMMRunConfig, Word2VecConfig, Word2VecRunConfig, preset
from rnnlab.core.jobs.store import RunStore
from rnnlab.dashboard import state

ROOT = Path(__file__).resolve().parent.parent
TOPICS = sorted(WORDS)  # cooking, sports, weather: 30 texts each, 24 of them for training


@dataclass(frozen=True)
class ScopeHome:
    home: Path
    archive: Path
    ids: dict[str, str]  # trained_home's ids, plus imdb_gradients, imdb_w2v, imdb_hmm, topics_*, imported

    def on(self, dataset: str) -> set[str]:
        """The ids of the runs on ``dataset`` (from their configs, not from the pages)."""
        return {r.id for r in RunStore(self.home / "runs").list() if r.summary()["dataset"] == dataset}


@pytest.fixture(scope="module")
def scope_home(trained_home, tmp_path_factory) -> ScopeHome:
    """A copy of the trained home with runs on a second dataset (and more on IMDB) added (seconds)."""
    import torch

    from rnnlab.core.data.sources import add_dataset
    from rnnlab.core.jobs.imports import import_vectors_run
    from rnnlab.core.jobs.lifecycle import run_now
    from rnnlab.core.jobs.word2vec import export_vectors_run

    root = tmp_path_factory.mktemp("scope")
    home = root / "home"
    shutil.copytree(trained_home.home, home)
    ids = dict(trained_home.run_ids)
    threads = torch.get_num_threads()
    probe = dict(record_gradients=True, probe_every=1, probe_size=4)
    with pytest.MonkeyPatch.context() as mp:
        use_home(mp, home, trained_home.archive)
        add_dataset(write_csv(root / "topics.csv", [[s, c] for c in TOPICS for s in sentences(c)]), "topics",
                    text_col="sentence", label_col="topic")
        store = RunStore(home / "runs")
        ids["imdb_gradients"] = run_now("rnn", tiny_config("gru", trained_home.archive, **probe), store).id
        ids["topics_lstm"] = run_now("rnn", preset("fast", cell="lstm", dataset="topics", epochs=1, hidden_size=8,
                                                   embedding_dim=8, max_len=40, threads=1, **probe), store).id
        for name, data in (("imdb", DataConfig(imdb_path=str(trained_home.archive))),
                           ("topics", DataConfig(dataset="topics"))):
            w2v = Word2VecRunConfig(data=data, word2vec=Word2VecConfig(dim=8, min_count=1, epochs=1))
            ids[f"{name}_w2v"] = run_now("word2vec", w2v, store, label="word2vec-skipgram").id
            fit = HMMRunConfig(data=data, hmm=HMMConfig(states=2, mix=1, dim=2, n_iter=2, restarts=1,
                                                        embeddings=ids[f"{name}_w2v"]))
            ids[f"{name}_hmm"] = run_now("hmm", fit, store, label="gmmhmm").id
        vectors = export_vectors_run(ids["imdb_w2v"], root / "vectors.txt", runs_dir=store.root)
        ids["imported"] = import_vectors_run(vectors, store, label="word2vec-published").id
    torch.set_num_threads(threads)  # the jobs set one thread for themselves
    return ScopeHome(home, trained_home.archive, ids)


@pytest.fixture
def home(scope_home, tmp_path, monkeypatch) -> ScopeHome:
    """A private copy of the home, with the tiny archive as IMDB."""
    copy = tmp_path / "home"
    shutil.copytree(scope_home.home, copy)
    use_home(monkeypatch, copy, scope_home.archive)
    return ScopeHome(copy, scope_home.archive, scope_home.ids)


def open_page(name: str, dataset: str | None = None) -> AppTest:
    """The page as a session that chose ``dataset`` on another page would open it (None: no choice yet)."""
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=90)
    if dataset is not None:
        at.session_state[state.DATASET] = dataset
    return ok(at.run())


def offered(options: list[str], home: ScopeHome) -> set[str]:
    """The run ids named in a picker's options."""
    every = {r.id for r in RunStore(home.home / "runs").list()}
    return {m for o in options for m in re.findall(r"[0-9]{8}-[0-9]{6}-[\w-]+", str(o)) if m in every}


def chosen(at: AppTest) -> str:
    return at.session_state[state.DATASET]


# -- each page shows the chosen dataset's runs only -----------------------------------------------------------------
def test_overview_counts_and_best_runs_are_the_chosen_datasets(home):
    ids = home.ids
    at = open_page("overview.py")
    assert chosen(at) == "imdb" and at.selectbox(key="overview_dataset").value == "imdb"  # IMDB has runs: the default
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == str(len(home.on("imdb"))) and metrics["Failed"] == "1"
    best = rows(at, "model")
    assert set(best["run_id"]) <= home.on("imdb") and set(best["model"]) >= {"rnn", "lstm", "gru"}
    at.selectbox(key="overview_dataset").select("topics").run()
    assert chosen(ok(at)) == "topics"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == str(len(home.on("topics"))) == "3" and metrics["Failed"] == "0"
    assert set(rows(at, "model")["run_id"]) <= {ids["topics_lstm"], ids["topics_hmm"]}
    assert f"Latest on topics: `{ids['topics_hmm']}`" in text(at)


def test_compare_lists_and_draws_only_the_chosen_datasets_runs(home):
    ids = home.ids
    at = open_page("compare.py")
    rnn_imdb = {ids[k] for k in ("rnn", "lstm", "gru", "failed", "imdb_gradients")}
    assert set(rows(at, "params_pytorch")["run_id"]) == rnn_imdb
    at.toggle(key="compare_show_all").set_value(True).run()
    assert offered(at.multiselect(key="compare_runs.imdb.all").options, home) <= rnn_imdb
    at.selectbox(key="compare_dataset").select("topics").run()
    assert set(rows(ok(at), "params_pytorch")["run_id"]) == {ids["topics_lstm"]}
    assert offered(at.multiselect(key="compare_runs.imdb.topics.all").options, home) == {ids["topics_lstm"]}
    assert offered(at.multiselect(key="compare_delete").options, home) == {ids["topics_lstm"]}
    assert chosen(at) == "topics"


def test_gradients_offers_only_the_chosen_datasets_recorded_runs(home):
    ids = home.ids
    at = open_page("gradients.py")
    assert offered(at.multiselect(key="grad_runs").options, home) == {ids["imdb_gradients"]}
    assert offered(at.selectbox(key="grad_norm_run").options, home) <= home.on("imdb")
    at = open_page("gradients.py", "topics")
    assert at.selectbox(key="grad_dataset").value == "topics"
    assert offered(at.multiselect(key="grad_runs").options, home) == {ids["topics_lstm"]}
    assert offered(at.selectbox(key="grad_norm_run").options, home) == {ids["topics_lstm"]}
    assert "Memory horizon" in text(at)  # the synthetic study stays on the page whatever the dataset


@pytest.mark.parametrize("page, key, imdb, topics", [
    ("gates.py", "gates_run_0", {"rnn", "lstm", "gru", "imdb_gradients"}, {"topics_lstm"}),
    ("classify.py", "classify_runs", {"rnn", "lstm", "gru", "imdb_gradients", "imdb_hmm"}, {"topics_lstm",
                                                                                              "topics_hmm"}),
    ("hmm.py", "hmm_run", {"imdb_hmm"}, {"topics_hmm"}),
    ("hmm.py", "hmm_embeddings", {"imdb_w2v", "imported"}, {"topics_w2v", "imported"}),
    ("embeddings.py", "w2v_run", {"imdb_w2v", "imported"}, {"topics_w2v", "imported"}),
])
def test_each_inside_page_lists_the_chosen_datasets_runs_and_imported_vectors(home, page, key, imdb, topics):
    for dataset, want in (("imdb", imdb), ("topics", topics)):
        at = open_page(page, dataset)
        widget = next(w for kind in ("selectbox", "multiselect") for w in getattr(at, kind) if w.key == key)
        assert offered(widget.options, home) == {home.ids[k] for k in want}, (dataset, widget.options)


# -- the choice holds across pages ----------------------------------------------------------------------------------
PAGES = ["overview.py", "compare.py", "gradients.py", "gates.py", "classify.py", "hmm.py", "embeddings.py",
         "report.py", "train.py", "data.py"]
KEYS = {"overview.py": "overview_dataset", "compare.py": "compare_dataset", "gradients.py": "grad_dataset",
        "gates.py": "gates_dataset", "classify.py": "classify_dataset", "hmm.py": "hmm_dataset",
        "embeddings.py": "w2v_dataset", "report.py": "report_dataset", "train.py": "train_dataset",
        "data.py": "data_dataset"}


@pytest.mark.parametrize("first, then", [("compare.py", "overview.py"), ("gates.py", "gradients.py"),
                                         ("train.py", "hmm.py"), ("data.py", "classify.py"),
                                         ("embeddings.py", "report.py")])
def test_a_dataset_chosen_on_one_page_is_the_default_on_the_next(home, first, then):
    at = open_page(first)
    at.selectbox(key=KEYS[first]).select("topics").run()
    assert chosen(ok(at)) == "topics"
    nxt = open_page(then, chosen(at))  # the session's choice, carried to the next page
    assert nxt.selectbox(key=KEYS[then]).value == "topics" and chosen(nxt) == "topics"
    nxt.selectbox(key=KEYS[then]).select("imdb").run()  # and back, from there
    assert chosen(ok(nxt)) == "imdb"
    assert open_page(first, chosen(nxt)).selectbox(key=KEYS[first]).value == "imdb"


@pytest.mark.parametrize("page", PAGES)
def test_every_scoped_page_opens_on_either_dataset_without_an_error(home, page):
    for dataset in ("imdb", "topics"):
        at = open_page(page, dataset)
        assert at.selectbox(key=KEYS[page]).value == dataset
        assert not at.error, [e.value for e in at.error]


def test_a_newer_run_on_another_dataset_does_not_push_the_chosen_ones_out_of_view(home):
    from rnnlab.core.jobs.lifecycle import run_now

    at = open_page("overview.py")
    assert chosen(at) == "imdb"
    run_now("rnn", preset("fast", cell="gru", dataset="topics", epochs=1, hidden_size=4, embedding_dim=4, max_len=20,
                          threads=1), RunStore(home.home / "runs"))
    ok(at.run())  # the same session, after a training on the other dataset
    assert chosen(at) == "imdb" and at.selectbox(key="overview_dataset").value == "imdb"
    assert set(rows(at, "model")["run_id"]) <= home.on("imdb")
    for page in ("compare.py", "gradients.py"):
        assert open_page(page, chosen(at)).selectbox(key=KEYS[page]).value == "imdb"


def test_without_runs_on_imdb_the_first_default_is_kept_when_another_dataset_trains(home):
    store = RunStore(home.home / "runs")
    for run_id in home.on("imdb"):
        store.delete(run_id)
    at = open_page("overview.py")
    assert chosen(at) == "topics"  # the newest run's dataset, IMDB having none
    from rnnlab.core.jobs.lifecycle import run_now

    run_now("rnn", tiny_config("rnn", home.archive), store)  # a newer run, on IMDB
    assert chosen(ok(at.run())) == "topics"


# -- the forms launch on the chosen dataset -------------------------------------------------------------------------
@pytest.fixture
def launched(monkeypatch):
    with sleeping_process() as pid:
        yield fake_launches(monkeypatch, pid)


def test_the_train_pages_dataset_box_starts_from_the_chosen_dataset_and_changes_it_everywhere(home):
    at = open_page("train.py", "topics")
    assert at.selectbox(key="train_dataset").value == "topics"
    at.selectbox(key="train_dataset").select("imdb").run()
    assert chosen(ok(at)) == "imdb"
    at = open_page("train.py")
    assert at.selectbox(key="train_dataset").value == "imdb"


def test_the_train_pages_estimate_speaks_of_the_chosen_datasets_size(home):
    at = open_page("train.py", "topics")
    estimate = next(c.value for c in at.caption if c.value.startswith("Expected time"))
    # the lesson preset (7,000 per split, 3 epochs) on 72 training texts less 7 held out: 3 x 65
    assert "of topics" in estimate and "195 samples" in estimate and "18 test texts" in estimate
    assert "21,000" not in estimate and "7,000" not in estimate and "reviews" not in estimate
    at.number_input(key="hp.lesson.imdb.epochs").set_value(1).run()  # any setting: the estimate follows at once
    estimate = next(c.value for c in ok(at).caption if c.value.startswith("Expected time"))
    assert "65 samples of topics" in estimate
    at.selectbox(key="train_dataset").select("imdb").run()
    estimate = next(c.value for c in ok(at).caption if c.value.startswith("Expected time"))
    assert "of imdb" in estimate and "test reviews" in estimate


def test_the_train_pages_defaults_launch_on_a_small_dataset(home, launched):
    at = open_page("train.py", "topics")
    start = next(b for b in at.button if b.proto.label == "Start training")
    ok(start.click().run())
    assert [x["run"].config().data.dataset for x in launched] == ["topics"] * 3  # the lesson preset, three cells
    assert {x["run"].config().data.val_size for x in launched} == {7}  # 10 % of the 72 training texts


def test_a_val_size_the_dataset_cannot_fit_is_refused_with_the_value_that_would(home, launched):
    before = {r.id for r in RunStore(home.home / "runs").list()}
    at = open_page("train.py", "topics")
    at.number_input(key="hp.lesson.imdb.val_size").set_value(500)
    start = next(b for b in at.button if b.proto.label == "Start training")
    ok(start.click().run())
    [error] = [e.value for e in at.error]
    assert error.startswith("Not started: val_size=500 does not fit dataset topics")
    assert "leave val_size unset for the default, 7" in error and "Traceback" not in error
    assert not launched and {r.id for r in RunStore(home.home / "runs").list()} == before
    # put right, the same form starts at once (the refused click was not taken for a double click)
    at.number_input(key="hp.lesson.imdb.val_size").set_value(6)
    start = next(b for b in at.button if b.proto.label == "Start training")
    ok(start.click().run())
    assert len(launched) == 3 and "Started 3 runs" in text(at)


def test_the_hmm_form_fits_on_the_chosen_dataset_with_its_vectors(home, launched):
    at = open_page("hmm.py", "topics")
    at.number_input(key="hmm_dim").set_value(2)
    at.number_input(key="hmm_limit").set_value(12)
    at.selectbox(key="hmm_embeddings").select(home.ids["topics_w2v"])
    ok(at.get("form_submit_button")[0].click().run())
    [fit] = [x["run"] for x in launched]
    cfg = fit.job_config()
    assert (cfg.data.dataset, cfg.data.imdb_path, cfg.hmm.limit) == ("topics", None, 12)
    assert cfg.hmm.embeddings == home.ids["topics_w2v"]


REFUSED = "val_size=500 does not fit dataset topics: leave val_size unset for the default, 7"


@pytest.mark.parametrize("page, go", [
    ("hmm.py", lambda at: at.get("form_submit_button")[0]),
    ("embeddings.py", lambda at: at.get("form_submit_button")[0]),
    ("report.py", lambda at: at.get("form_submit_button")[0]),
    ("gradients.py", lambda at: next(b for b in at.get("form_submit_button") if b.proto.label == "Run the experiment")),
])
def test_a_launch_the_dataset_refuses_shows_the_reason_and_makes_no_run(home, launched, monkeypatch, page, go):
    from rnnlab.core.data.datasets import DoesNotFit
    from rnnlab.core.jobs import lifecycle

    def refuse(*args, **kwargs):
        raise DoesNotFit(REFUSED)

    monkeypatch.setattr(lifecycle, "create", refuse)  # what create raises when the data cannot fit
    before = {r.id for r in RunStore(home.home / "runs").list()}
    at = open_page(page, "topics")
    if page == "hmm.py":
        at.number_input(key="hmm_dim").set_value(2).run()
    ok(go(at).click().run())
    assert [e.value for e in at.error] == [f"Not started: {REFUSED}"]
    assert not launched and {r.id for r in RunStore(home.home / "runs").list()} == before


def test_the_embeddings_form_trains_on_the_chosen_dataset(home, launched):
    at = open_page("embeddings.py", "topics")
    estimate = next(c.value for c in at.caption if c.value.startswith("Expected time"))
    assert "texts of topics" in estimate and "reviews" not in estimate
    ok(at.get("form_submit_button")[0].click().run())
    [run] = [x["run"] for x in launched]
    assert run.job_config().data.dataset == "topics"


def test_the_report_form_runs_the_experiment_on_the_chosen_dataset(home, launched):
    at = open_page("report.py", "topics")
    ok(at.get("form_submit_button")[0].click().run())
    [run] = [x["run"] for x in launched]
    assert run.job_config().dataset == "topics" and run.job_config().imdb_path is None
