"""Each page that starts a background job, driven from launch to its finished view.

The job runs for real (its kind's job function, through the one lifecycle), only in this process
instead of its own -- ``launch`` is replaced by :func:`core.jobs.lifecycle.run_job` -- so by the
page's next run it has ended. What is checked: the page shows the job finished *and* the result
it made, never the "nothing yet" text of before (no stale page).
"""

from __future__ import annotations

import shutil

import pytest
from conftest import tiny_reviews, write_imdb_archive
from fixtures_runs import use_home
from test_pages import text
from test_pages_inside import InsideHome, inside_home, ok, open_page  # noqa: F401 - fixtures

from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.store import RunStore


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """An archive with more training reviews than the default validation split (2,500) takes: what the pages'
    word2vec and GMM-HMM jobs read (their forms keep the default split, as a user's would)."""
    return write_imdb_archive(tmp_path_factory.mktemp("jobs") / "aclImdb_v1.tar.gz",
                              tiny_reviews(per_class=1300, unsup=20))


@pytest.fixture
def home(inside_home, archive, tmp_path, monkeypatch) -> InsideHome:  # noqa: F811
    copy = tmp_path / "home"
    shutil.copytree(inside_home.home, copy)
    use_home(monkeypatch, copy, archive)
    return InsideHome(copy, archive, inside_home.ids)


@pytest.fixture
def run_in_process(monkeypatch, one_thread):
    """``launch`` runs the job to its end here and now; the runs it ran, in order."""
    ran = []

    def launch(run, store=None, *, lane="train", resume=False, cores=None):
        ran.append(run)
        lifecycle.run_job(run, store or RunStore(run.path.parent), resume=resume)
        return run

    monkeypatch.setattr(lifecycle, "launch", launch)
    return ran


def test_embeddings_from_train_to_the_new_vectors_shown(home, run_in_process):  # noqa: F811
    at = ok(open_page("embeddings.py"))
    at.number_input(key="w2v_dim").set_value(8)
    at.number_input(key="w2v_epochs").set_value(1)
    at.number_input(key="w2v_min_count").set_value(1)
    at.get("form_submit_button")[0].click().run()
    [run] = run_in_process
    assert run.status()["state"] == "finished"
    ok(at.run())  # what the finished job's poll does: the page runs again
    assert "Word2vec training" in text(at) and "Finished" in text(at)
    assert at.selectbox(key="w2v_run").value == run.id  # the new vectors, not the older run
    assert [m.value for m in at.metric][1] == "8"  # its dimensions


def test_hmm_from_fit_to_the_fitted_model_shown(home, run_in_process):  # noqa: F811
    at = ok(open_page("hmm.py"))
    for key, value in (("hmm_states", 2), ("hmm_mix", 1), ("hmm_limit", 10), ("hmm_dim", 2), ("hmm_n_iter", 2)):
        at.number_input(key=key).set_value(value)
    at.get("form_submit_button")[0].click().run()
    [run] = run_in_process
    assert run.kind == "hmm" and run.status()["state"] == "finished"
    ok(at.run())
    assert "GMM-HMM fit" in text(at) and "Finished" in text(at) and "No GMM-HMM fitted yet" not in text(at)
    assert at.selectbox(key="hmm_run").value == run.id


def test_report_from_generate_to_the_report_shown(home, run_in_process):  # noqa: F811
    at = ok(open_page("report.py"))
    at.number_input[0].set_value(16)  # reviews per split
    at.number_input[1].set_value(1)  # epochs
    for box in at.checkbox:
        box.uncheck()  # no horizon, HMM or ablations: the three trainings and the report only
    at.get("form_submit_button")[0].click().run()
    experiment = next(r for r in run_in_process if r.kind == "experiment")
    assert experiment.status()["state"] == "finished", experiment.status()
    ok(at.run())
    assert "No report yet" not in text(at) and "Finished" in text(at)
    body = " ".join(m.value for m in at.markdown)
    assert "RNN Lab" in body and "runs.csv" in [b.proto.label for b in at.get("download_button")]


def test_memory_horizon_from_run_to_its_table(home, run_in_process):  # noqa: F811
    at = ok(open_page("gradients.py"))
    before = {r.id for r in RunStore(home.home / "runs").list() if r.kind == "memory-horizon"}
    form = [f for f in at.get("form_submit_button") if "horizon" in f.proto.label.lower()
            or "run" in f.proto.label.lower()]
    assert form, [f.proto.label for f in at.get("form_submit_button")]
    for box in at.text_input:
        if box.key and "length" in box.key:
            box.set_value("4, 6")
    for box in at.number_input:
        if box.key and "steps" in box.key:
            box.set_value(4)
    form[0].click().run()
    new = [r for r in run_in_process if r.kind == "memory-horizon" and r.id not in before]
    assert new and new[0].status()["state"] == "finished", [r.status() for r in run_in_process]
    ok(at.run())
    assert "Finished" in text(at)
