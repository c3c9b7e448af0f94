"""A sweep on a real Ray cluster: a head node and a second node on 127.0.0.1 (`ray start`), torn down at the end.

Every planned run lands in the store exactly once, the two one-CPU nodes train at the same time,
a worker killed in the middle of a run has that run submitted again (and says so), and the sweep
run again reuses every finished run. Skipped, with the reason, without the ``ray`` package.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

# the cluster's token, for its nodes and for this process: Ray reads it once, when it is first used
AUTH = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": __import__("secrets").token_hex(16)}
os.environ.update(AUTH)
ray = pytest.importorskip("ray", reason="the optional ray package is not installed (pip install ray)")

from rnnlab.core.config import SweepConfig  # noqa: E402
from rnnlab.core.jobs import lifecycle  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402
from rnnlab.core.sweep.job import read_plan, read_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RAY = str(Path(sys.executable).parent / "ray")
SPEC = """
name = "on-ray"
preset = "fast"
seeds = [0, 1]
[base]
task = "adding"
train_steps = {steps}
epochs = 2
batch_size = 8
hidden_size = 8
seq_len = 20
probe_size = 8
threads = 1
[vary]
cell = {cells}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HOST = "127.0.0.2"  # loopback; Ray would swap "127.0.0.1" for the machine's own network address


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node and a worker node, one CPU each, on a loopback address; their workers' scratch folders in ``tmp``."""
    tmp = tmp_path_factory.mktemp("ray")
    port = free_port()
    env = {**os.environ, **AUTH, "TMPDIR": str(tmp), "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(ROOT)}
    common = ["--num-cpus", "1", "--num-gpus", "0", "--node-ip-address", HOST, "--disable-usage-stats"]
    address = f"{HOST}:{port}"
    try:
        subprocess.run([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                       env=env, check=True, capture_output=True, timeout=120)
        subprocess.run([RAY, "start", "--address", address, *common], env=env, check=True, capture_output=True,
                       timeout=120)
        yield {"address": address, "tmp": tmp}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        subprocess.run([RAY, "stop", "--force"], env=env, capture_output=True, timeout=120)


def sweep(cluster, steps: int, cells: list[str], parallel: int = 2):
    spec = SPEC.format(steps=steps, cells=json.dumps(cells))
    cfg = SweepConfig(spec=spec, executor="ray", address=cluster["address"], parallel=parallel, retries=1)
    return lifecycle.run_now("sweep", cfg, RunStore(), label="sweep-on-ray")


def test_a_sweep_runs_across_both_nodes_lands_once_and_resumes(rnnlab_home, cluster):
    first = sweep(cluster, 40, ["rnn", "gru"])
    assert first.status()["state"] == "finished"
    assert int(ray.cluster_resources().get("CPU", 0)) == 2 and len([n for n in ray.nodes() if n["Alive"]]) == 2
    store = RunStore()
    trained = [r for r in store.list() if r.kind == "rnn"]
    assert len(trained) == 4 and sorted(p["run_id"] for p in read_plan(first)) == sorted(r.id for r in trained)
    sts = [r.status() for r in trained]
    assert all(s["state"] == "finished" for s in sts)
    assert all(r.file("model.safetensors").is_file() and r.file("test_metrics.json").is_file() for r in trained)
    sts.sort(key=lambda s: s["started"])
    assert any(b["started"] < a["finished"] for a, b in zip(sts, sts[1:], strict=False))  # two nodes at once
    assert os.getpid() not in {s["process"]["pid"] for s in sts}  # trained by Ray's workers, not here
    assert not list(store.root.glob(".incoming-*")) and not list(store.root.glob(".replaced-*"))

    again = sweep(cluster, 40, ["rnn", "gru"])  # resumed: nothing left to do
    assert read_results(again)["reused"].all() and len([r for r in RunStore().list() if r.kind == "rnn"]) == 4


def test_a_run_whose_worker_is_killed_is_submitted_again_and_says_so(rnnlab_home, cluster):
    killed: list[int] = []

    def kill_first_worker() -> None:
        deadline = time.time() + 120
        while time.time() < deadline and not killed:
            for status in cluster["tmp"].glob("rnnlab-worker-*/runs/*/status.json"):
                try:
                    st = json.loads(status.read_text())
                except (OSError, ValueError):
                    continue
                if st.get("state") == "running" and st.get("process"):
                    os.kill(st["process"]["pid"], signal.SIGKILL)
                    killed.append(st["process"]["pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    run = sweep(cluster, 400, ["lstm"])
    killer.join(timeout=5)
    assert killed, "no worker was seen training"
    results = read_results(run)
    assert (results["state"] == "finished").all()
    assert results["note"].fillna("").str.contains("retried 1 time after a crash").sum() == 1


def test_a_run_waiting_for_a_worker_reads_queued_and_a_training_one_shows_its_workers_progress(rnnlab_home, cluster):
    """Three runs in flight on two CPUs: one waits in Ray's queue, and reads so, while others train and
    report their progress; never more runs read running than the cluster has CPUs."""
    seen: list[list[tuple[str, str]]] = []  # per look at the store: (state, phase) of every run
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            look = []
            for run in RunStore().list():
                if run.kind == "rnn":
                    try:
                        st = run.status()
                    except (OSError, ValueError):
                        continue
                    look.append((st.get("state"), str((st.get("progress") or {}).get("phase", ""))))
            seen.append(look)
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        # long enough that a run waits while two train, also with the GRU on the CPU kernel and under load
        run = sweep(cluster, 1500, ["gru", "lstm"], parallel=3)
    finally:
        stop.set()
        watcher.join(timeout=5)
    assert (read_results(run)["state"] == "finished").all()
    waiting = "submitted to Ray, waiting for a worker"
    assert any(sum(s == "running" for s, _ in look) >= 1 and ("queued", waiting) in look for look in seen)
    assert max(sum(s == "running" for s, _ in look) for look in seen) <= 2  # never more than the cluster's CPUs
    phases = {p for look in seen for s, p in look if s == "running"}
    assert phases - {waiting, ""}, phases  # the workers' own progress, copied into the driver's store
