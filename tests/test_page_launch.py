"""The Train page's launch and estimate, and the memory horizon's one figure, under AppTest.

Launch: the same settings started again within seconds (Enter pressed in a number box, a second
click) queue nothing until the user says so; other settings, or the same ones later, start at once.
Estimate: measured again when a run finishes and when the dataset's sizes change (its archive
parsed meanwhile, another dataset picked), never kept from before; each run's figure with where it
comes from. Memory horizon: one expected time on the page, the one for the form's settings.
"""

from __future__ import annotations

import re

from test_pages import fake_launch, home, ok, open_page, sleeper, text  # noqa: F401 - fixtures

from rnnlab.core.data.datasets import resolve_config
from rnnlab.core.jobs.names import FINISHED, TEST_METRICS_FILE
from rnnlab.core.jobs.store import RunStore
from rnnlab.dashboard import forms, state


def start(at):
    return ok(next(b for b in at.button if b.proto.label == "Start training").click().run())


def small_form(at, hidden: int = 8):
    at.multiselect(key="train_cells").set_value(["rnn", "gru"])
    at.number_input(key="hp.lesson.imdb.hidden_size").set_value(hidden)
    at.number_input(key="hp.lesson.imdb.limit").set_value(40)
    return at


def repeat_warning(at) -> str | None:
    return next((w.value for w in at.warning if "Not started yet" in w.value), None)


# -- the same launch again ------------------------------------------------------------------------------------------
def test_starting_the_same_settings_again_asks_first_and_launches_only_when_told(home, fake_launch):  # noqa: F811
    at = start(small_form(ok(open_page("train.py"))))
    first = [x["run"].id for x in fake_launch]
    assert len(first) == 2 and "Started 2 runs" in text(at)
    at = start(at)  # the rerun's Start, the same settings: what Enter in a number box does
    assert len(fake_launch) == 2 and len(RunStore(home / "runs").list()) == 4 + 2  # the fixture's four, one set
    warning = repeat_warning(at)
    assert warning and "same as those of the 2 runs started" in warning and all(r in warning for r in first)
    ok(at.button(key="train_again").click().run())
    assert len(fake_launch) == 4 and "Started 2 runs" in text(at) and repeat_warning(at) is None
    assert [x["run"].config() for x in fake_launch[2:]] == [x["run"].config() for x in fake_launch[:2]]


def test_no_keeps_one_set_and_other_settings_start_at_once(home, fake_launch):  # noqa: F811
    at = start(start(small_form(ok(open_page("train.py")))))
    assert repeat_warning(at)
    ok(at.button(key="train_not_again").click().run())
    assert repeat_warning(at) is None and len(fake_launch) == 2
    at = start(small_form(at, hidden=9))  # another setting: nothing to ask
    assert len(fake_launch) == 4 and repeat_warning(at) is None
    assert {x["run"].config().model.hidden_size for x in fake_launch} == {8, 9}


def test_the_same_settings_after_the_window_start_without_asking(home, fake_launch, monkeypatch):  # noqa: F811
    monkeypatch.setattr(state, "RELAUNCH_WINDOW_S", 0.0)
    at = start(start(small_form(ok(open_page("train.py")))))
    assert len(fake_launch) == 4 and repeat_warning(at) is None


# -- the estimate follows the store and the dataset --------------------------------------------------------------------
def estimate(at) -> str:
    return next(c.value for c in ok(at).caption if c.value.startswith("Expected time"))


def finish_a_run_like_the_form(home_dir, per_s: float) -> None:
    """A finished RNN run with the Train page's defaults (lesson preset), written into the store with its pace."""
    [cfg] = forms.configs_from_form("lesson", ["rnn"], "imdb", {}, dataset="imdb")
    run = RunStore(home_dir / "runs").create(resolve_config(cfg))
    run.update_status(state=FINISHED, started=1.0, finished=2.0)
    run.write_json(TEST_METRICS_FILE, {"accuracy": 0.7, "train_samples_per_s": per_s, "train_time_s": 20.0,
                                       "inference_samples_per_s": 500.0, "n": 12, "wall_time_s": 30.0})


def test_the_train_estimate_is_measured_again_when_a_run_finishes(home):  # noqa: F811
    at = open_page("train.py")
    at.multiselect(key="train_cells").set_value(["rnn"]).run()
    before = estimate(at)
    assert "No RNN (imdb, hidden 50, bucket batches) run with these sizes has finished here yet" in before
    finish_a_run_like_the_form(home, per_s=123.0)
    after = estimate(at.run())  # seconds later: a cache of the old estimate would still say "No RNN"
    assert "From 1 finished RNN (imdb, hidden 50, bucket batches) run: 123 training samples per second" in after
    assert "No RNN" not in after


def test_each_cell_says_where_its_own_figure_comes_from(home):  # noqa: F811
    finish_a_run_like_the_form(home, per_s=123.0)
    at = open_page("train.py")
    at.multiselect(key="train_cells").set_value(["rnn", "gru"]).run()
    head, rnn, gru = estimate(at).split("  \n")
    assert head.startswith("Expected time, one after another: about") and "x 3 epochs" in head
    assert rnn.startswith("RNN: about") and "From 1 finished RNN" in rnn
    assert gru.startswith("GRU: about") and "No GRU" in gru and "reference rate" in gru
    assert len(re.findall(r"about \d", head)) == 1  # one total


def test_the_train_estimate_counts_the_imdb_archive_once_it_is_read(rnnlab_home, tiny_imdb_archive, monkeypatch):
    from rnnlab.core.data.imdb import load_imdb

    monkeypatch.setenv("RNNLAB_IMDB", str(tiny_imdb_archive))
    at = open_page("train.py")
    assert "IMDB's published sizes" in estimate(at) and "21,000 samples of imdb" in estimate(at)
    load_imdb(str(tiny_imdb_archive))  # the Data page, or a training, reads it meanwhile
    after = estimate(at.run())
    # the tiny archive's 6 training reviews less the validation review carved out, 3 epochs; its 6 test reviews
    assert "IMDB's published sizes" not in after and "15 samples of imdb" in after and "6 test reviews" in after


def test_the_train_estimate_speaks_of_the_picked_dataset_only(home, tmp_path):  # noqa: F811
    from rnnlab.core.data.sources import add_dataset

    csv = tmp_path / "topics.csv"
    csv.write_text("sentence,topic\n" + "".join(f"goal team match {i},sports\noven flour sauce {i},cooking\n"
                                                for i in range(20)))
    add_dataset(csv, "topics", text_col="sentence", label_col="topic")
    at = open_page("train.py")
    assert "of imdb" in estimate(at)
    at.selectbox(key="train_dataset").select("topics").run()
    after = estimate(at)
    assert "samples of topics" in after and "(topics, hidden 50" in after
    assert "imdb" not in after and "reviews" not in after  # neither IMDB's name nor its sizes


# -- the memory horizon: one figure ------------------------------------------------------------------------------------
DURATION = re.compile(r"\d+ (s|min|h)\b")


def test_the_memory_horizon_shows_one_expected_time(home):  # noqa: F811
    at = ok(open_page("gradients.py"))
    captions = [c.value for c in at.caption]
    expected = [c for c in captions if c.startswith("Expected time")]
    assert len(expected) == 1 and expected[0].startswith("Expected time: at most")
    [none_yet] = [c for c in captions if c.startswith("No memory-horizon experiment yet")]
    assert not DURATION.search(none_yet)  # no second figure beside the form's, for other settings

