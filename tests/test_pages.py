"""Every dashboard page under Streamlit's AppTest, one page file at a time.

Against a copy of a run store holding tiny trained runs (``trained_home``) with the tiny IMDB
archive, and against an empty home with no dataset: no exception, the expected tables and
charts, widgets that change what is shown, jobs started from a page found in the run store as
queued runs of the right kind and config (and one data install run in its own process to the
end), and a page that says what to do next when there is nothing to show.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import nltk_data
from streamlit.testing.v1 import AppTest

from rnnlab.core.config import DataJobConfig, preset
from rnnlab.core.jobs import lifecycle as jobs
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import Run, RunStore
from rnnlab.dashboard import state

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["overview.py", "data.py", "train.py", "compare.py"]


@pytest.fixture(autouse=True)
def stopwords_available(monkeypatch):
    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())


@pytest.fixture
def home(trained_home, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained home, with the tiny archive as the dataset."""
    copy = tmp_path / "home"
    shutil.copytree(trained_home.home, copy)
    monkeypatch.setenv("RNNLAB_HOME", str(copy))
    monkeypatch.setenv("RNNLAB_IMDB", str(trained_home.archive))
    return copy


@pytest.fixture
def empty_home(rnnlab_home) -> Path:
    """No runs and no dataset anywhere."""
    return rnnlab_home


@contextmanager
def sleeping_process() -> Iterator[int]:
    """A harmless process in its own process group, to stand in for a job's process (cancel may kill it)."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        yield proc.pid
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


@pytest.fixture
def sleeper():
    with sleeping_process() as pid:
        yield pid


def fake_launches(monkeypatch: pytest.MonkeyPatch, pid: int) -> list[dict]:
    """Replace ``core.jobs.lifecycle.launch``: no process starts, the run is claimed by process ``pid``.

    What the pages call (``submit``, ``resume``) is the real code: the runs are created in the store
    as they would be, and read as queued while ``pid`` lives. Returns the launches, in order:
    ``{"run", "lane", "resume"}``.
    """
    launched: list[dict] = []

    def launch(run: Run, store: RunStore | None = None, *, lane: str | None = "train", resume: bool = False) -> Run:
        jobs.claim(run, ProcessId.of(pid))
        launched.append({"run": run, "lane": lane, "resume": resume})
        return run

    monkeypatch.setattr(jobs, "launch", launch)
    return launched


@pytest.fixture
def fake_launch(monkeypatch, sleeper) -> list[dict]:
    return fake_launches(monkeypatch, sleeper)


def ended(run: Run, timeout_s: float = 120.0) -> dict:
    """The run's status once it is no longer queued or running (a launched job's process)."""
    deadline = time.time() + timeout_s
    while run.status()["state"] in ("queued", "running"):
        log = run.file("job.log")
        assert time.time() < deadline, f"{run.status()}; {log.read_text() if log.exists() else 'no job.log'}"
        time.sleep(0.2)
    return run.status()


def open_page(name: str) -> AppTest:
    return AppTest.from_file(str(ROOT / "pages" / name), default_timeout=60).run()


def ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def decode(obj):
    """Plotly's JSON with its typed arrays (``{"dtype", "bdata"}``) turned back into lists."""
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:
            arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=obj["dtype"])
            shape = [int(n) for n in str(obj.get("shape", len(arr))).split(",")]  # "2, 2" for a matrix
            return arr.reshape(shape).tolist()
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    return obj


def charts(at: AppTest) -> list[dict]:
    return [decode(json.loads(c.proto.spec)) for c in at.get("plotly_chart")]


def title_of(fig: dict) -> str:
    """A chart's title as one line: style() wraps long titles to the chart's width with <br>."""
    return re.sub(r"<br\s*/?>", " ", (fig["layout"].get("title") or {}).get("text") or "")


def chart(at: AppTest, title: str) -> dict:
    found = [c for c in charts(at) if title_of(c).startswith(title)]
    assert found, f"no chart titled {title!r} in {[c['layout'].get('title') for c in charts(at)]}"
    return found[0]


def text(at: AppTest) -> str:
    parts = [e.value for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "success",
                                  "error") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def rows(at: AppTest, column: str):
    """The one table on the page with ``column`` (a display-only table has no key to find it by)."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert len(found) == 1, f"{len(found)} tables with a column {column!r}"
    return found[0]


# -- every page ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_with_runs_and_data_and_every_chart_exports_csv(home, page):
    at = ok(open_page(page))
    n_charts = len(at.get("plotly_chart"))
    assert n_charts >= 1
    assert sum(1 for b in at.get("download_button") if b.proto.label == "CSV") == n_charts


NEXT_STEP = {"overview.py": "three ways", "data.py": "three ways to get", "train.py": "Nothing trained yet",
             "compare.py": "No runs to compare yet"}


@pytest.mark.parametrize("page", PAGES)
def test_every_page_works_with_zero_runs_and_no_dataset_and_says_what_to_do(empty_home, page):
    at = ok(open_page(page))
    assert NEXT_STEP[page] in text(at)


# -- overview -------------------------------------------------------------------------------------------------
def test_overview_without_the_dataset_offers_a_path_an_upload_and_a_download(empty_home):
    at = ok(open_page("overview.py"))
    assert at.text_input(key="path_input")
    assert at.get("file_uploader")[0].proto.label == "Archive"
    assert at.button(key="download").proto.label == "Download"
    assert "not available" in text(at)


def test_overview_shows_the_dataset_the_device_and_a_summary_of_the_runs(home):
    at = ok(open_page("overview.py"))
    body = text(at)
    assert "IMDB found" in body and ("CPU" in body or "CUDA" in body)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs"] == "4" and metrics["Finished"] == "3" and metrics["Failed"] == "1"
    assert metrics["Reviews"] == "28"
    assert sorted(rows(at, "model")["model"]) == ["gru", "lstm", "rnn"]


def test_a_dataset_path_given_on_the_overview_is_checked_then_used(empty_home, trained_home):
    at = ok(open_page("overview.py"))
    at.text_input(key="path_input").input(str(empty_home / "nowhere.tar.gz")).run()
    at.button(key="use_path").click().run()
    assert "does not exist" in " ".join(e.value for e in at.error)
    at.text_input(key="path_input").input(str(trained_home.archive)).run()
    ok(at.button(key="use_path").click().run())
    assert at.session_state[state.DATASET_PATH] == str(trained_home.archive)
    assert "IMDB found" in text(at)


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_installing_an_upload_on_the_overview_queues_a_data_run_in_the_data_lane(empty_home, trained_home,
                                                                                 fake_launch):
    from rnnlab.core.paths import data_dir

    at = ok(open_page("overview.py"))
    at.get("file_uploader")[0].upload("aclImdb_v1.tar.gz", trained_home.archive.read_bytes(), "application/gzip")
    ok(at.run())
    ok(at.button(key="install_upload").click().run())
    [launch] = fake_launch
    run = launch["run"]
    assert launch["lane"] == "data" and not launch["resume"]
    assert run.kind == "data" and run.config_dict()["label"] == "data-install"
    [staged] = data_dir().glob(".upload-*.tar.gz")  # the upload, staged for the job to validate and move
    assert staged.read_bytes() == trained_home.archive.read_bytes()
    assert run.job_config() == DataJobConfig(action="install", archive=str(staged), move=True)
    assert [r.id for r in RunStore(empty_home / "runs").list()] == [run.id]
    # the page follows the queued run and offers no second data job meanwhile
    assert "install: queued…" in progress_texts(at)
    assert at.button(key="install_upload").proto.disabled and at.button(key="download").proto.disabled


def test_the_overview_download_queues_a_data_run(empty_home, fake_launch):
    at = ok(open_page("overview.py"))
    ok(at.button(key="download").click().run())
    [launch] = fake_launch
    assert launch["lane"] == "data" and launch["run"].kind == "data"
    assert launch["run"].job_config() == DataJobConfig(action="download")
    assert "download: queued…" in progress_texts(at)


def test_an_uploaded_archive_is_installed_by_a_data_run_that_removes_the_staged_file(empty_home, trained_home):
    from rnnlab.core.data.imdb import default_archive_path

    at = ok(open_page("overview.py"))
    at.get("file_uploader")[0].upload("aclImdb_v1.tar.gz", trained_home.archive.read_bytes(), "application/gzip")
    ok(at.run())
    ok(at.button(key="install_upload").click().run())
    [run] = RunStore(empty_home / "runs").list()
    assert run.kind == "data" and run.job_config().action == "install" and run.job_config().move
    assert run.process().pid != os.getpid()  # its own process: `python -m core job RUN_ID`
    st = ended(run)
    assert st["state"] == "finished", (st, run.file("job.log").read_text())
    assert default_archive_path().read_bytes() == trained_home.archive.read_bytes()
    assert run.read_json("data.json")["path"] == str(default_archive_path())
    ok(at.run())
    assert "IMDB found" in text(at) and "Install finished" in text(at)
    assert not list((empty_home / "data").glob(".upload-*"))  # the staged upload was moved into place


# -- data -----------------------------------------------------------------------------------------------------
def test_the_review_table_follows_split_label_and_search(home):
    at = ok(open_page("data.py"))
    assert len(rows(at, "review")) == 12
    at.selectbox(key="data_label").select("pos").run()
    table = rows(at, "review")
    assert len(table) == 6 and set(table["label"]) == {"pos"}
    at.selectbox(key="data_label").select("all")
    at.text_input(key="data_filter").input("review 3").run()
    assert sorted(rows(at, "review")["label"]) == ["neg", "pos"]
    at.selectbox(key="data_split").select("unsup").run()
    assert set(rows(at, "review")["label"]) <= {"unlabelled"}


def test_the_data_page_charts_lengths_and_the_words_left_after_preprocessing(home):
    at = ok(open_page("data.py"))
    lengths = chart(at, "Review length")
    assert sum(sum(tr["y"]) for tr in lengths["data"]) == 12  # every training review counted once
    words = chart(at, "Most frequent words")
    pos = next(tr for tr in words["data"] if tr["name"] == "pos")
    top_word, top_count = pos["y"][-1], pos["x"][-1]  # the largest bar is drawn last (on top)
    assert (top_word, top_count) == ("pos", 12)  # "train pos review i, rated r. A pos film." twice per review


def test_each_preprocessing_stage_shows_what_it_removed(home):
    at = ok(open_page("data.py"))
    at.radio(key="data_text_source").set_value("my own text").run()
    at.text_area(key="data_own_text").input("The film <br /> was not GOOD, u see").run()
    ok(at)
    stages = rows(at, "stage")
    assert list(stages["stage"]) == ["lowercase", "expand_abbreviations", "strip_html", "remove_non_alnum",
                                     "strip_whitespace", "remove_stopwords"]
    html = " ".join(h.proto.body for h in at.get("html"))
    assert "line-through" in html and "&lt;br" in html  # the tag is shown as text, struck through
    assert "**3 tokens**" in text(at)  # film good see: "u" became "you", a stop word like "the", "was", "not"
    at.pills(key="data_stages_on").set_value(["lowercase", "strip_html", "remove_non_alnum", "strip_whitespace"]).run()
    assert len(rows(at, "stage")) == 4
    assert "**7 tokens**" in text(at)  # the film was not good u see


# -- train ----------------------------------------------------------------------------------------------------
def test_the_train_form_starts_from_the_chosen_presets_values(home):
    at = ok(open_page("train.py"))
    assert at.selectbox(key="train_preset").value == "lesson"  # the default: the budget that shows the gates' effect
    assert at.number_input(key="hp.lesson.imdb.epochs").value == 3
    assert at.number_input(key="hp.lesson.imdb.limit").value == 7000
    at.selectbox(key="train_preset").select("seed").run()
    assert at.number_input(key="hp.seed.imdb.epochs").value == 5
    assert at.selectbox(key="hp.seed.imdb.batching").value == "fixed"
    at.selectbox(key="train_preset").select("fast").run()
    assert at.selectbox(key="hp.fast.imdb.batching").value == "bucket"
    assert at.number_input(key="hp.fast.imdb.threads").value == 1


def test_start_launches_one_job_per_cell_type_with_the_form_values_and_only_once(home, fake_launch, sleeper):
    at = ok(open_page("train.py"))
    at.multiselect(key="train_cells").set_value(["rnn", "gru"])
    at.number_input(key="hp.lesson.imdb.hidden_size").set_value(8)
    at.number_input(key="hp.lesson.imdb.limit").set_value(40)
    at.checkbox(key="hp.lesson.imdb.keep_negations").check()
    submit = next(b for b in at.button if b.proto.label == "Start training")
    ok(submit.click().run())
    runs = [x["run"] for x in fake_launch]
    assert [r.kind for r in runs] == ["rnn", "rnn"] and {x["lane"] for x in fake_launch} == {"train"}
    cfgs = [r.config() for r in runs]
    assert [c.model.cell for c in cfgs] == ["rnn", "gru"]
    assert all((c.model.hidden_size, c.data.limit, c.text.keep_negations) == (8, 40, True) for c in cfgs)
    assert all(r.status()["state"] == "queued" and r.process().pid == sleeper for r in runs)
    assert at.session_state[state.LAUNCHED] == [r.id for r in runs]
    assert "Started 2 runs" in text(at)
    assert len([b for b in at.button if b.proto.label == "Cancel"]) == 2  # both wait in the queue
    # a second click straight away (a double click) starts nothing more
    submit = next(b for b in at.button if b.proto.label == "Start training")
    ok(submit.click().run())
    assert len(fake_launch) == 2


def test_a_training_run_shows_its_epoch_and_batch_and_its_curves_and_can_be_cancelled(home, sleeper):
    store = RunStore(home / "runs")
    run = store.create(preset("fast", cell="lstm", epochs=3))
    run.append_metrics([{"kind": "step", "step": i, "epoch": 0, "loss": 0.7 - i / 100, "grad_norm": 1.0 + i,
                         "clipped": i > 3, "skipped": False, "correct": 3, "batch_size": 4} for i in range(15)])
    run.append_metrics([{"kind": "epoch", "epoch": 0, "step": 10, "train_loss": 0.6, "val_loss": 0.65,
                         "train_accuracy": 0.7, "val_accuracy": 0.6}])
    run.update_status(state="running", process=ProcessId.of(sleeper).to_dict(),
                      progress={"phase": "training", "epoch": 1, "epochs": 3, "batch": 5, "batches": 10})
    at = ok(open_page("train.py"))
    bars = [p.proto.text for p in at.get("progress")]
    assert "epoch 2 of 3" in bars and "batch 5 of 10" in bars
    assert len(chart(at, "Loss")["data"][0]["x"]) == 15
    assert chart(at, "Gradient norm")["data"][1]["name"] == "clipped"
    at.button(key=f"cancel.{run.id}").click().run()
    assert run.cancel_requested
    os.kill(sleeper, 0)  # a request only: its process was not signalled (this raises if it is gone)


def test_a_crashed_run_started_here_is_resumed_from_the_train_page(home, fake_launch, sleeper):
    store = RunStore(home / "runs")
    run = store.create(preset("fast", cell="gru", epochs=3))
    run.file("checkpoint").mkdir()  # it saved an epoch before its process died
    dead = subprocess.Popen(["true"])
    gone = ProcessId.of(dead.pid)
    dead.wait()
    run.update_status(state="running", process=gone.to_dict(), progress={"phase": "training", "epoch": 1})
    assert run.status()["state"] == "crashed"
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=60)
    at.session_state[state.LAUNCHED] = [run.id]
    ok(at.run())
    ok(at.button(key=f"resume.{run.id}").click().run())
    assert [(x["run"].id, x["lane"], x["resume"]) for x in fake_launch] == [(run.id, "train", True)]
    st = run.status()
    assert st["state"] == "queued" and st["process"]["pid"] == sleeper and not st.get("error")
    assert len(store.list()) == 5  # resumed in place: no new run


def test_a_failed_run_shows_its_error_and_its_log(home, trained_home):
    at = ok(open_page("train.py"))
    at.selectbox(key="train_watch").select(trained_home.run_ids["failed"]).run()
    assert any("missing.tar.gz" in e.value for e in at.error)
    assert any("Traceback" in c.value for c in at.code)


def test_without_the_dataset_imdb_cannot_start_but_the_synthetic_tasks_are_offered(empty_home):
    at = ok(open_page("train.py"))
    assert set(at.selectbox(key="train_task").options) >= {"text classification", "adding problem (synthetic)",
                                                           "temporal order (synthetic)"}
    submit = next(b for b in at.button if b.proto.label == "Start training")
    assert submit.proto.disabled and "not available" in text(at)
    at.selectbox(key="train_task").select("adding").run()
    ok(at)
    assert at.number_input(key="hp.lesson.adding.seq_len").value == 50


# -- compare --------------------------------------------------------------------------------------------------
def test_the_compare_table_lists_every_run_with_its_metrics_and_both_parameter_counts(home, trained_home):
    at = ok(open_page("compare.py"))
    table = rows(at, "params_pytorch").set_index("run_id")
    assert len(table) == 4
    lstm = table.loc[trained_home.run_ids["lstm"]]
    assert (lstm["params_seed_formula"], lstm["params_pytorch"]) == (4 * (8 + 8 + 1) * 8, 4 * (8 + 8 + 2) * 8)
    assert 0 <= lstm["test_accuracy"] <= 1 and lstm["status"] == "finished"
    assert table.loc[trained_home.run_ids["failed"]]["status"] == "failed"
    assert at.download_button(key="compare_csv")


def test_compare_draws_the_chosen_runs_only(home, trained_home):
    at = ok(open_page("compare.py"))
    ok(at.toggle(key="compare_show_all").set_value(True).run())  # the tiny LSTM and GRU are degenerate
    assert len(chart(at, "ROC curves")["data"]) == 1 + 3  # chance and three runs
    assert len(chart(at, "Confusion matrices")["data"]) == 3
    at.multiselect(key="compare_runs.imdb.all").unselect(trained_home.run_ids["rnn"]).run()
    assert len(chart(at, "ROC curves")["data"]) == 1 + 2
    assert [tr["name"] for tr in chart(at, "Test metrics")["data"]] == ["test accuracy", "F1", "ROC-AUC"]
    assert len(chart(at, "Test metrics")["data"][0]["x"]) == 2
    at.selectbox(key="compare_metric").select("val_loss").run()
    assert len(chart(at, "Validation loss per epoch")["data"]) == 2


def test_deleting_a_run_on_compare_removes_its_folder(home, trained_home):
    at = ok(open_page("compare.py"))
    failed = trained_home.run_ids["failed"]
    at.multiselect(key="compare_delete").select(failed)
    at.checkbox(key="compare_delete_sure").check().run()
    ok(at.button(key="compare_delete_button").click().run())
    assert failed not in [r.id for r in RunStore(home / "runs").list()]
    assert len(rows(at, "params_pytorch")) == 3


@pytest.mark.parametrize("weights", ["safetensors", "pickle"])
def test_importing_a_run_on_compare_accepts_only_a_matching_safetensors_checkpoint(empty_home, trained_home, weights):
    source = RunStore(trained_home.home / "runs").get(trained_home.run_ids["gru"])
    blob = source.file("model.safetensors").read_bytes() if weights == "safetensors" else b"\x80\x04pickled"
    at = ok(open_page("compare.py"))
    at.file_uploader(key="import_config").upload("config.json", source.file("config.json").read_bytes())
    at.file_uploader(key="import_weights").upload("model.safetensors", blob)
    at.file_uploader(key="import_vocab").upload("vocab.json", source.file("vocab.json").read_bytes())
    ok(at.run())
    ok(at.button(key="import_run").click().run())
    imported = RunStore(empty_home / "runs").list()
    if weights == "safetensors":
        assert len(imported) == 1 and any("Imported as" in s.value for s in at.success)
    else:
        assert imported == [] and any("pickle" in e.value for e in at.error)


def test_a_synthetic_run_is_watched_and_compared_with_its_own_test_figures(home, one_thread):
    from rnnlab.dashboard.forms import configs_from_form

    [cfg] = configs_from_form("fast", ["gru"], "adding", {"seq_len": 10, "train_steps": 12, "epochs": 1,
                                                          "hidden_size": 8, "batch_size": 8})
    run = jobs.run_now("rnn", cfg, RunStore(home / "runs"))
    at = ok(open_page("train.py"))
    at.selectbox(key="train_watch").select(run.id).run()
    assert any("test MSE" in s.value for s in ok(at).success)
    at = ok(open_page("compare.py"))
    ok(at.selectbox(key="compare_task").select("adding").run())
    table = rows(at, "mse")
    assert list(table["run_id"]) == [run.id] and "f1" not in table
    assert [tr["name"] for tr in chart(at, "Test metrics")["data"]] == ["test MSE"]


def test_compare_leaves_hidden_failed_and_degenerate_runs_out_of_the_charts_by_default(home, trained_home):
    ids = trained_home.run_ids
    at = ok(open_page("compare.py"))
    table = rows(at, "params_pytorch").set_index("run_id")
    quality = table["quality"]
    # one epoch on six reviews: the LSTM and the GRU call every review positive, the RNN is within chance's band
    assert (quality[ids["lstm"]], quality[ids["gru"]], quality[ids["failed"]]) == ("degenerate", "degenerate", "failed")
    assert quality[ids["rnn"]] == "≈ chance" and "≈ chance" in text(at)
    [option] = at.multiselect(key="compare_runs.imdb").options  # the label itself carries the mark, once
    assert option == f"{table.loc[ids['rnn'], 'label']} ({ids['rnn']})" and option.count("≈ chance") == 1
    assert len(chart(at, "ROC curves")["data"]) == 1 + 1
    assert "Not drawn: 2 degenerate runs" in text(at)
    RunStore(home / "runs").get(ids["rnn"]).annotate(hidden=True)
    at = ok(open_page("compare.py"))
    assert ids["rnn"] not in set(rows(at, "params_pytorch")["run_id"]) and "1 hidden run not listed" in text(at)
    assert not at.get("plotly_chart") and "Every finished run on IMDB movie reviews is degenerate" in text(at)
    ok(at.toggle(key="compare_show_all").set_value(True).run())
    assert len(rows(at, "params_pytorch")) == 4 and len(chart(at, "ROC curves")["data"]) == 1 + 3


def test_compare_draws_the_confusion_matrix_of_a_run_with_more_than_two_classes(home):
    run = RunStore(home / "runs").create(preset("seed"))
    run.write_json("test_metrics.json", {
        "accuracy": 0.7, "f1": 0.69, "roc_auc": None, "n": 30, "classes": ["cooking", "sports", "weather"],
        "class_confusion_matrix": [[8, 1, 1], [2, 7, 1], [1, 3, 6]]})
    run.update_status(state="finished")
    at = ok(open_page("compare.py"))
    label = rows(at, "params_pytorch").set_index("run_id").loc[run.id, "label"]
    matrix = chart(at, f"{label}: confusion matrix")["data"][0]
    assert matrix["z"] == [[8, 1, 1], [2, 7, 1], [1, 3, 6]]
    assert list(matrix["x"]) == ["cooking", "sports", "weather"]
