"""Sweeps (core.sweep): a TOML spec planned into runs, executed N at a time here, resumed, tabulated."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.config import SweepConfig
from rnnlab.core.jobs import lifecycle
from rnnlab.core.jobs.process import ProcessId
from rnnlab.core.jobs.store import RunStore
from rnnlab.core.sweep import executors
from rnnlab.core.sweep.job import (
    best_points,
    named_none,
    place_runs,
    published,
    read_plan,
    read_published,
    read_results,
    sweep_progress,
)
from rnnlab.core.sweep.spec import SpecError, parse_spec, plan, plan_confirm

TINY = """
name = "tiny"
preset = "fast"
seeds = [0, 1]

[base]
task = "adding"
train_steps = 12
epochs = 2
batch_size = 8
hidden_size = 6
seq_len = 12
probe_size = 8
threads = 1

[vary]
cell = ["rnn", "gru"]
"""


# -- the spec -------------------------------------------------------------------------------------------------
def test_a_spec_plans_the_product_of_its_varied_fields_and_seeds_in_grid_order():
    spec = parse_spec("""
name = "grid"
preset = "seed"
seeds = {start = 0, stop = 2}
[base]
task = "adding"
[vary]
cell = ["rnn", "lstm"]
seq_len = {start = 10, stop = 80, num = 4, scale = "log"}
hidden_size = {start = 25, stop = 100, step = 25}
lr = {start = 0.001, stop = 0.003, num = 3}
""")
    assert dict(spec.vary)["seq_len"] == (10, 20, 40, 80)
    assert dict(spec.vary)["hidden_size"] == (25, 50, 75, 100)
    assert dict(spec.vary)["lr"] == pytest.approx((0.001, 0.002, 0.003))
    assert spec.seeds == (0, 1, 2) and spec.size == 2 * 4 * 4 * 3 * 3
    points = plan(spec)
    assert len(points) == spec.size
    assert [p.as_dict() for p in points[:4]] == [
        {"cell": "rnn", "seq_len": 10, "hidden_size": 25, "lr": pytest.approx(0.001), "seed": s} for s in (0, 1, 2)
    ] + [{"cell": "rnn", "seq_len": 10, "hidden_size": 25, "lr": pytest.approx(0.002), "seed": 0}]
    last = points[-1].cfg
    assert (last.model.cell, last.train.seq_len, last.model.hidden_size, last.train.seed) == ("lstm", 80, 100, 2)
    assert last.train.task == "adding" and last.train.batching == "fixed"  # the seed preset's


@pytest.mark.parametrize("text, says", [
    ('name = "x"\n[vary]\nnot_a_field = [1]', "vary.not_a_field: not a field"),
    ('name = "x"\n[vary]\nseed = [1, 2]', "seeds are given by `seeds`"),
    ('name = "x"\n[base]\ncell = "rnn"\n[vary]\ncell = ["gru"]', "both in [base] and [vary]"),
    ('name = "x"\n[vary]\nhidden_size = [8, 0]', "hidden_size=0"),
    ('name = "x"\n[vary]\ncell = ["rnn", "transformer"]', "cell='transformer'"),
    ('name = "../x"', "name: 1-64 letters"),
    ('name = "x"\npreset = "turbo"', "preset: 'turbo'"),
    ('name = "x"\nseeds = [-1]', "seeds: integers"),
    ('name = "x"\n[vary]\nhidden_size = []', "non-empty list"),
    ('name = "x"\n[vary]\nhidden_size = {start = 1, stop = 1000000}', "values; 1 to 100 allowed"),
    ('name = "x"\n[vary]\na_b = 1\nhidden_size = {start = 1, stop = 5, num = 3, scale = "cubic"}', "not a field"),
    ('name = "x"\n[vary]\nhidden_size = {start = 1, stop = 9, num = 3, scale = "cubic"}', "scale must be"),
    ('name = "x"\n[vary]\nhidden_size = {start = 1, stop = 100, step = 1}\nlr = {start = 0.001, stop = 0.1, num = 30}',
     "at most 2,000"),
    ('name = "x"\nextra = 1', "unknown keys ['extra']"),
    ("name = ", "not valid TOML"),
])
def test_a_bad_spec_is_refused_naming_what_is_wrong(text, says):
    with pytest.raises(SpecError, match=None) as e:
        plan(parse_spec(text))
    assert says in str(e.value)


@pytest.mark.parametrize("confirm, says", [
    ("top = 0\nseeds = [1]", "confirm.top"),
    ("top = 3\nseeds = [1]", "confirm.top: 3, but the grid has 2 points"),
    ("top = 1\nseeds = [0, 1]", "confirm.seeds: [0] already trained"),
    ("top = 1", "confirm.seeds"),
    ("top = 1\nseeds = [1]\nby = 'test_accuracy'", "unknown keys ['by']"),
])
def test_a_bad_confirmation_stage_is_refused(confirm, says):
    with pytest.raises(SpecError) as e:
        parse_spec(f'name = "x"\nseeds = [0]\n[vary]\ncell = ["rnn", "gru"]\n[confirm]\n{confirm}')
    assert says in str(e.value)


def test_the_confirmation_stage_trains_the_best_points_by_validation_loss_again_with_more_seeds():
    spec = parse_spec('name = "x"\nseeds = [0, 1]\n[vary]\ncell = ["rnn", "lstm", "gru"]\nhidden_size = [8, 16]\n'
                      '[confirm]\ntop = 2\nseeds = [7, 9]')
    assert (spec.points, spec.confirm_size, spec.size) == (6, 4, 6 * 2 + 4)
    grid = plan(spec)
    assert len(grid) == 12 and {p.stage for p in grid} == {"grid"}
    loss = {("lstm", 16): [0.30, 0.34], ("gru", 8): [0.31, 0.31], ("rnn", 8): [0.20, None]}
    rows = []
    for p in grid:
        key = (dict(p.values)["cell"], dict(p.values)["hidden_size"])
        v = loss.get(key, [0.5, 0.6])[p.seed]
        rows.append((p.values, {"state": "finished" if v is not None else "failed", "best_val_loss": v}))
    best = best_points(rows, spec.confirm_top)
    # the RNN's one finished seed is the lowest loss, but a point with a failed run is never chosen
    assert best == [(("cell", "gru"), ("hidden_size", 8)), (("cell", "lstm"), ("hidden_size", 16))]
    more = plan_confirm(spec, best)
    assert [(p.cfg.model.cell, p.cfg.model.hidden_size, p.seed, p.stage) for p in more] == [
        ("gru", 8, 7, "confirm"), ("gru", 8, 9, "confirm"), ("lstm", 16, 7, "confirm"), ("lstm", 16, 9, "confirm")]


def test_a_spec_over_its_size_or_not_utf8_is_refused():
    with pytest.raises(SpecError, match="bytes"):
        parse_spec(b'name = "x"\n' + b"#" * 70_000)
    with pytest.raises(SpecError, match="not UTF-8"):
        parse_spec(b'name = "\xff"')


# -- placing and executing -------------------------------------------------------------------------------------------
def test_every_planned_run_is_in_the_store_queued_before_any_starts_and_reuse_is_by_resolved_config(rnnlab_home):
    store = RunStore()
    cfgs = [p.cfg for p in plan(parse_spec(TINY))]
    placed = place_runs(cfgs, store, "sweep-tiny")
    assert len(placed) == 4 and len({r.id for r, _ in placed}) == 4 and not any(reused for _, reused in placed)
    for run, _ in placed:
        st = run.status()
        assert st["state"] == "queued" and ProcessId.from_dict(st["process"]) == ProcessId.current()
    # the sweep's process dies (its runs read crashed) and the sweep is run again: the same runs are taken up
    dead = subprocess.Popen(["true"])
    dead.wait()
    for run, _ in placed:
        lifecycle.claim(run, ProcessId.of(dead.pid))
        assert run.status()["state"] == "crashed"
    again = place_runs(cfgs, store, "sweep-tiny")
    assert [r.id for r, _ in again] == [r.id for r, _ in placed] and len(store.list()) == 4
    assert all(r.status()["state"] == "queued" for r, _ in again)


def test_a_local_sweep_runs_two_at_a_time_tabulates_and_a_rerun_reuses_every_run(rnnlab_home, one_thread):
    store = RunStore()
    sweep = lifecycle.run_now("sweep", SweepConfig(spec=TINY, parallel=2), store, label="sweep-tiny")
    assert sweep.status()["state"] == "finished"
    planned = read_plan(sweep)
    children = [store.get(p["run_id"]) for p in planned]
    assert [c.status()["state"] for c in children] == ["finished"] * 4
    sts = sorted((c.status() for c in children), key=lambda s: s["process"]["start"])
    # two at a time: the second run's process was launched before the first run finished (on any number
    # of cores: the executor launches both at once; whether they then overlap is the OS's business)
    assert sts[1]["process"]["start"] < sts[0]["finished"]
    assert len({s["process"]["pid"] for s in sts}) == 4
    results = read_results(sweep)
    assert list(results["cell"]) == ["rnn", "rnn", "gru", "gru"] and list(results["seed"]) == [0, 1, 0, 1]
    assert results["mse"].notna().all() and (results["state"] == "finished").all()
    summary = pd.read_csv(sweep.path / "sweep" / "summary.csv")
    assert list(summary["cell"]) == ["rnn", "gru"] and list(summary["runs"]) == [2, 2]
    assert summary.loc[0, "mse_mean"] == pytest.approx(results["mse"][:2].mean())

    again = lifecycle.run_now("sweep", SweepConfig(spec=TINY, parallel=2), store, label="sweep-tiny")
    assert read_results(again)["reused"].all()
    assert sum(r.kind == "rnn" for r in store.list()) == 4  # nothing trained twice


def test_a_sweep_with_a_confirmation_stage_plans_it_from_the_grid_and_tabulates_both(rnnlab_home, one_thread):
    spec = TINY.replace("seeds = [0, 1]", "seeds = [0]") + "[confirm]\ntop = 1\nseeds = [3, 4]\n"
    store = RunStore()
    sweep = lifecycle.run_now("sweep", SweepConfig(spec=spec, parallel=2), store, label="sweep-tiny")
    assert sweep.status()["state"] == "finished"
    results = read_results(sweep)
    grid = results[results["stage"] == "grid"]
    assert list(grid["cell"]) == ["rnn", "gru"] and list(grid["seed"]) == [0, 0]
    winner = grid.loc[grid["best_val_loss"].idxmin(), "cell"]  # chosen by validation loss, not by the test MSE
    confirm = results[results["stage"] == "confirm"]
    assert list(confirm["cell"]) == [winner, winner] and list(confirm["seed"]) == [3, 4]
    assert (results["state"] == "finished").all() and results["best_epoch"].notna().all()
    assert [p["stage"] for p in read_plan(sweep)] == ["grid", "grid", "confirm", "confirm"]
    summary = pd.read_csv(sweep.path / "sweep" / "summary.csv").set_index("cell")
    assert summary.loc[winner, "runs"] == 3 and summary["runs"].sum() == 4

    again = lifecycle.run_now("sweep", SweepConfig(spec=spec, parallel=2), store, label="sweep-tiny")
    assert read_results(again)["reused"].all() and sum(r.kind == "rnn" for r in store.list()) == 4
    assert sweep_progress(again, store)["total"] == 4
    waiting = store.create(SweepConfig(spec=spec), kind="sweep")  # not started: every run, the confirmation too
    assert sweep_progress(waiting, store) | {"elapsed_s": None} == {
        "total": 4, "counts": {"queued": 4}, "done": 0, "elapsed_s": None, "eta_s": None}


def test_published_studies_are_read_with_their_spec_and_a_damaged_one_is_named(tmp_path):
    root = Path(__file__).resolve().parent.parent / "docs" / "sweeps"
    docs = published(root)
    assert "edge-of-chaos" in docs
    spec, results = read_published(docs["edge-of-chaos"])
    assert spec.varied == ["cell", "recurrent_init_radius", "seq_len"] and len(results) == spec.size
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "spec.toml").write_text('name = "bad"\n')
    (bad / "results.csv").write_text("not,a,sweep\n1,2,3\n")
    assert published(tmp_path) == {"bad": bad}
    with pytest.raises(ValueError, match="not a sweep's results table"):
        read_published(bad)
    (bad / "spec.toml").write_text("name = ")
    with pytest.raises(SpecError, match="not valid TOML"):
        read_published(bad)


def test_an_empty_value_of_a_varied_field_comes_back_from_the_results_file_named_none(tmp_path):
    table = pd.DataFrame({"embeddings": ["", "w2v-run", ""], "hidden_size": [4, 4, 8], "seed": [0, 0, 0],
                          "note": ["", "", ""], "run_id": ["a", "b", "c"], "state": ["finished"] * 3})
    table.to_csv(tmp_path / "results.csv", index=False)
    back = pd.read_csv(tmp_path / "results.csv")
    assert back["embeddings"].isna().sum() == 2  # what a CSV does to ""
    named = named_none(back, ["embeddings", "hidden_size"])
    assert list(named["embeddings"]) == ["none", "w2v-run", "none"] and list(named["hidden_size"]) == [4, 4, 8]
    assert named["note"].isna().all()  # only the varied fields
    only_none = named_none(back.assign(embeddings=float("nan")), ["embeddings"])
    assert set(only_none["embeddings"]) == {"none"}


def test_a_run_whose_process_dies_is_resumed_once_then_left_crashed(rnnlab_home, one_thread, monkeypatch):
    real_launch = lifecycle.launch
    dead = subprocess.Popen(["true"])
    dead.wait()
    launches: list[str] = []

    def launch(run, store=None, *, lane="train", resume=False, cores=None):
        launches.append(run.id)
        if launches.count(run.id) == 1:  # its first process "dies" at once: claimed by a process that ended
            lifecycle.claim(run, ProcessId.of(dead.pid))
            return run
        return real_launch(run, store, lane=lane, resume=resume, cores=cores)

    monkeypatch.setattr(lifecycle, "launch", launch)
    spec = TINY.replace('cell = ["rnn", "gru"]', 'cell = ["gru"]').replace("seeds = [0, 1]", "seeds = [0]")
    sweep = lifecycle.run_now("sweep", SweepConfig(spec=spec, parallel=1, retries=1), RunStore())
    [row] = read_results(sweep).to_dict("records")
    assert row["state"] == "finished" and row["note"] == "retried 1 time after a crash" and len(launches) == 2

    never = lifecycle.run_now("sweep", SweepConfig(spec=spec.replace("seeds = [0]", "seeds = [5]"), retries=0),
                              RunStore())
    [row] = read_results(never).to_dict("records")
    assert row["state"] == "crashed" and "not retried" in row["note"]


def test_default_parallelism_is_one_run_per_core_for_one_thread_runs(rnnlab_home, monkeypatch):
    monkeypatch.setattr(executors, "cpu_count", lambda: 8)
    store = RunStore()
    runs = [r for r, _ in place_runs([p.cfg for p in plan(parse_spec(TINY))], store, "t")]
    assert executors.default_parallel(runs) == 8
    four = TINY.replace("threads = 1", "threads = 4").replace('name = "tiny"', 'name = "four"')
    assert executors.default_parallel([r for r, _ in place_runs([p.cfg for p in plan(parse_spec(four))], store,
                                                                 "f")]) == 2


def test_a_returned_run_folder_cannot_write_outside_its_place(tmp_path):
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../escaped.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ValueError, match="unexpected member"):
        executors.unpack_folder(buf.getvalue(), tmp_path / "run")
    assert not (tmp_path / "escaped.txt").exists()


# -- a Ray worker's reports to the driver, without a cluster ------------------------------------------------------
class FakeQueue:
    """What the executors use of ``ray.util.queue.Queue``; like it, an empty one has length 0 (reads false)."""

    def __init__(self):
        self.items: list = []

    def __len__(self) -> int:
        return len(self.items)

    def put(self, item) -> None:
        self.items.append(item)

    def qsize(self) -> int:
        return len(self.items)

    def get_nowait_batch(self, n: int) -> list:
        out, self.items = self.items[:n], self.items[n:]
        return out


def test_a_ray_worker_reports_its_runs_start_and_progress_even_through_an_empty_queue(rnnlab_home, one_thread,
                                                                                         monkeypatch):
    monkeypatch.setattr(executors, "REPORT_S", 0.02)
    monkeypatch.setattr(executors, "START_POLL_S", 0.005)  # a fast machine trains this run in well under a second
    spec = TINY.replace("train_steps = 12", "train_steps = 400").replace("seeds = [0, 1]", "seeds = [0]")
    [run] = [r for r, _ in place_runs([plan(parse_spec(spec))[0].cfg], RunStore(), "t")]
    updates = FakeQueue()
    blob = executors.train_on_worker({"run_id": run.id, "config": run.file("config.json").read_bytes()}, updates)
    assert blob  # the run folder, packed
    whats = [what for rid, what, _ in updates.items if rid == run.id]
    assert whats[0] == "started" and whats.count("started") == 1 and "progress" in whats
    phases = [p.get("phase") for _, _, p in updates.items if isinstance(p, dict)]
    assert "training" in phases or "finished" in phases


def test_the_driver_copies_a_workers_reports_into_its_store_while_the_run_is_out(rnnlab_home):
    store = RunStore()
    [run] = [r for r, _ in place_runs([plan(parse_spec(TINY))[0].cfg], store, "t")]
    assert run.status()["state"] == "queued"
    updates = FakeQueue()
    updates.put((run.id, "started", {"phase": "starting"}))
    updates.put(("no-such-run", "progress", {"phase": "training"}))  # ignored
    executors.RayExecutor._copy_updates(updates, store)
    st = run.status()
    assert st["state"] == "running" and st["started"] > 0 and st["progress"] == {"phase": "starting"}
    updates.put((run.id, "progress", {"phase": "training", "epoch": 1, "epochs": 2}))
    executors.RayExecutor._copy_updates(updates, store)
    assert run.status()["progress"]["epoch"] == 1 and run.status()["state"] == "running"
    run.update_status(state="finished", progress={"phase": "finished"})  # the folder came back
    updates.put((run.id, "progress", {"phase": "training", "epoch": 1}))  # a report that arrived late
    executors.RayExecutor._copy_updates(updates, store)
    assert run.status()["state"] == "finished" and run.status()["progress"] == {"phase": "finished"}
    assert updates.qsize() == 0


# -- the command line -----------------------------------------------------------------------------------------------
def test_sweep_dry_run_prints_the_plan_and_creates_nothing(rnnlab_home, tmp_path, capsys):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    assert main(["sweep", str(spec), "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] == 4 and out["plan"][0] == {"cell": "rnn", "seed": 0} and out["config"]["parallel"] is None
    assert out["estimate"]["seconds"] is None and out["estimate"]["unknown"] == 4
    assert RunStore().list() == []
    assert main(["sweep", str(tmp_path / "missing.toml"), "--json"]) != 0
    assert "cannot read the spec" in json.loads(capsys.readouterr().out)["error"]


def test_the_shipped_studies_plan(rnnlab_home):
    root = Path(__file__).resolve().parent.parent / "studies"
    specs = {p.stem: parse_spec(p.read_text()) for p in sorted(root.glob("*.toml"))}
    assert {name: (len(plan(s)), s.size) for name, s in specs.items()} == {
        "best-at-seed-size": (48, 48), "edge-of-chaos": (108, 108),
        # the best preset's stages: 1, 3 and 4 screen with one seed and confirm 2 points with 2 more; 2 screens
        "best-1-text": (4, 8), "best-2-size": (8, 8), "best-3-regularise": (4, 8), "best-4-length": (4, 8),
        "best-5-embedding-lr": (3, 7), "best-6-epochs": (6, 6), "best-7-validation": (6, 6),
        # the modern cells beside the LSTM and GRU
        "modern-cells-imdb": (15, 15), "modern-cells-horizon": (45, 45)}


# -- the experiment through the same executor -------------------------------------------------------------------------
def test_the_experiment_trains_two_at_a_time_to_the_same_results_as_one_after_another(tmp_path, monkeypatch,
                                                                                       one_thread):
    from conftest import tiny_reviews, write_imdb_archive

    from rnnlab.core.config import ExperimentConfig

    archive = write_imdb_archive(tmp_path / "aclImdb_v1.tar.gz", tiny_reviews(per_class=8, unsup=4))
    results = {}
    for parallel in (1, 2):
        monkeypatch.setenv("RNNLAB_HOME", str(tmp_path / f"home{parallel}"))
        ec = ExperimentConfig(preset="fast", limit=16, val_size=4, epochs=1, hidden_size=4, horizon=False, hmm=False,
                              ablations=False, imdb_path=str(archive), parallel=parallel)
        run = lifecycle.run_now("experiment", ec, RunStore())
        assert run.status()["state"] == "finished"
        trained = [r for r in RunStore().list() if r.kind == "rnn"]
        results[parallel] = {r.config().model.cell: r.test_metrics()["accuracy"] for r in trained}
        pids = {r.status()["process"]["pid"] for r in trained}
        assert (len(pids) == 3) == (parallel == 2)  # own processes only when run in parallel
    assert results[1] == results[2] and set(results[1]) == {"rnn", "lstm", "gru"}


def test_runs_start_longest_first_by_their_measured_pace(rnnlab_home, tiny_imdb_archive):
    from rnnlab.core.config import preset

    store = RunStore()
    cfgs = {c: preset("fast", cell=c, epochs=1, limit=100, imdb_path=str(tiny_imdb_archive), val_size=2)
            for c in ("rnn", "lstm", "gru")}
    runs = [r for r, _ in place_runs(list(cfgs.values()), store, "t")]
    # no finished run here: the reference rates (the GRU is the slowest cell, the RNN the fastest)
    assert [r.config().model.cell for r in executors.longest_first(runs, store)] == ["gru", "lstm", "rnn"]
    # a finished RNN of the same settings that trained at 1 sample a second: now the RNN is the long one
    slow = store.create(cfgs["rnn"])
    slow.write_json("test_metrics.json", {"accuracy": 0.7, "train_samples_per_s": 1.0, "train_time_s": 200.0,
                                          "inference_samples_per_s": 1000.0, "n": 100, "wall_time_s": 210.0})
    slow.update_status(state="finished", started=1.0, finished=211.0)
    assert [r.config().model.cell for r in executors.longest_first(runs, store)][0] == "rnn"
