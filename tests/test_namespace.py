"""One importable name: an installed RNN Lab is the package ``rnnlab`` alone, beside a project's own ``core``.

``pip install .`` once put packages called ``core`` and ``dashboard`` at the top of site-packages, where a
project's own ``core`` and ours shadowed each other without a word from pip. Here the wheel (built once a
session: ``rnnlab_wheel`` in conftest.py) is installed with ``--no-deps`` into a fresh virtualenv that sees
this interpreter's packages (torch and the rest) through a .pth file. A temporary project with its own
``core`` and ``dashboard`` packages then runs beside it, from its own folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from rnnlab import core
from rnnlab.core.jobs.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
MINE = 'MARK = "mine"\n'


def run(cmd: list, cwd: Path | None = None, env: dict | None = None) -> str:
    """Run ``cmd``; its stdout, stripped. A failure shows its output."""
    p = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{cmd} exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return p.stdout.strip()


@pytest.fixture(scope="module")
def installed(rnnlab_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    work = tmp_path_factory.mktemp("package")
    wheel = rnnlab_wheel

    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]))
    ours = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))  # torch & co., after the venv's own
    (site / "test-packages.pth").write_text("".join(f"{p}\n" for p in ours))
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel])

    project = work / "project"  # a user's project: its own core and dashboard packages, run from its folder
    for name in ("core", "dashboard"):
        (project / name).mkdir(parents=True)
        (project / name / "__init__.py").write_text(MINE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["RNNLAB_HOME"] = str(work / "home")
    return SimpleNamespace(wheel=wheel, python=python, bin=venv / "bin", site=site, project=project, env=env)


def in_project(installed: SimpleNamespace, *args: object, home: Path | None = None) -> str:
    """Run the installed Python (or a command of the virtualenv) in the project's folder (``home``: RNNLAB_HOME)."""
    env = installed.env if home is None else {**installed.env, "RNNLAB_HOME": str(home)}
    return run(list(args), cwd=installed.project, env=env)


def test_the_wheel_holds_one_top_level_package(installed):
    names = zipfile.ZipFile(installed.wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"rnnlab", installed.wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert "rnnlab/core/__main__.py" in names and "rnnlab/dashboard/app.py" in names
    assert "rnnlab/dashboard/shipped/pages/overview.py" in names and "rnnlab/dashboard/shipped/config.toml" in names
    assert not [n for n in names if n.startswith(("core/", "dashboard/"))]
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(installed.wheel).read(top_level).decode().split() == ["rnnlab"]


def test_the_projects_own_core_is_the_one_it_imports(installed):
    assert in_project(installed, installed.python, "-c", "import core; print(core.MARK)") == "mine"
    assert in_project(installed, installed.python, "-c", "import dashboard; print(dashboard.MARK)") == "mine"
    where = in_project(installed, installed.python, "-c", "import rnnlab; print(rnnlab.__path__)")
    assert where == str([str(installed.site / "rnnlab")])  # installed: nothing added to its path


def test_the_command_and_python_m_rnnlab_core_run_beside_it(installed):
    assert in_project(installed, installed.bin / "rnnlab", "--version") == f"rnnlab {core.__version__}"
    assert in_project(installed, installed.python, "-m", "rnnlab.core", "--version") == (
        f"python -m rnnlab.core {core.__version__}")
    assert in_project(installed, installed.bin / "rnnlab", "runs", "--json") == "[]"


def test_one_process_uses_the_projects_core_and_rnnlabs(installed):
    code = ("import core, sys\n"
            "from rnnlab.core.config import preset\n"
            "from rnnlab.core.jobs import lifecycle\n"
            "from rnnlab.core import app\n"
            "cfg = preset('fast', 'gru', epochs=2)\n"
            "print(core.MARK, cfg.model.cell, cfg.train.epochs, sys.modules['rnnlab.core'].__file__)\n"
            "print(lifecycle.REPO_ROOT)\n"
            "print(app.dashboard_files()[0])\n")
    mark, root, dashboard_app = in_project(installed, installed.python, "-c", code).splitlines()
    assert mark.split() == ["mine", "gru", "2", str(installed.site / "rnnlab" / "core" / "__init__.py")]
    # launched jobs start in the folder that holds rnnlab, not in rnnlab/ (where core would be importable alone)
    assert Path(root) == installed.site
    assert Path(dashboard_app) == installed.site / "rnnlab" / "dashboard" / "app.py"


def test_a_checkout_reaches_its_folders_through_rnnlab_and_python_m_core_still_works():
    import rnnlab
    from rnnlab.core.jobs import lifecycle

    assert Path(core.__file__) == ROOT / "core" / "__init__.py" and str(ROOT) in rnnlab.__path__
    assert lifecycle.REPO_ROOT == ROOT  # `python -m rnnlab.core job` starts here: rnnlab/ is importable
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # `python -m core` loads the package core under that name too, but only its __init__: the rest is rnnlab.core
    p = subprocess.run([sys.executable, "-X", "importtime", "-m", "core", "--version"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip() == f"python -m core {core.__version__}", p.stderr[-2000:]
    loaded = {line.rsplit("|", 1)[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    assert "rnnlab.core.cliargs" in loaded
    assert {m for m in loaded if m.split(".")[0] in ("core", "dashboard")} == {"core"}


def test_the_installed_dashboard_runs_its_pages_beside_the_projects_core(installed):
    app = installed.site / "rnnlab" / "dashboard" / "app.py"
    code = ("import sys\nfrom streamlit.testing.v1 import AppTest\n"
            f"at = AppTest.from_file({str(app)!r}, default_timeout=120).run()\n"
            "assert not at.exception, [e.message for e in at.exception]\n"
            "import core\n"
            "print(core.MARK, at.title[0].value if at.title else '')\n"
            f"print([p for p in sys.path if p.startswith({str(installed.site)!r})])\n")
    mark, added = in_project(installed, installed.python, "-c", code).splitlines()[-2:]
    assert mark.startswith("mine ")  # the Overview page ran, and the project's core is still the one imported
    assert all(not p.endswith("rnnlab") for p in eval(added)), added  # site-packages/rnnlab never on the path


def test_a_job_the_installed_command_launches_runs_in_its_own_process(installed, tmp_path):
    # `--background`: `python -m rnnlab.core job RUN_ID` started from the folder that holds rnnlab
    out = in_project(installed, installed.bin / "rnnlab", "memory-horizon", "--models", "rnn", "--lengths", "4",
                     "--steps", "2", "--evals", "1", "--background", home=tmp_path)
    run = RunStore(tmp_path / "runs").get(out.splitlines()[-1])
    deadline = time.time() + 180
    while run.status()["state"] in ("queued", "running") and time.time() < deadline:
        time.sleep(0.2)
    assert run.status()["state"] == "finished", run.file("job.log").read_text()


def test_the_installed_sweep_page_offers_every_study_and_its_published_results(installed):
    code = """
import json, pathlib
from streamlit.testing.v1 import AppTest
import rnnlab.core as core
import rnnlab.dashboard as dashboard
from rnnlab.core.paths import shipped
from rnnlab.core.sweep.job import published
assert shipped("studies").is_relative_to(pathlib.Path(core.__file__).parent)
page = pathlib.Path(dashboard.__file__).parent / "shipped" / "pages" / "sweep.py"
at = AppTest.from_file(str(page), default_timeout=120).run()
assert not at.exception, [e.value for e in at.exception]
at.selectbox(key="sweep_run").set_value("docs:edge-of-chaos").run()
assert not at.exception, [e.value for e in at.exception]
print(json.dumps({"lookup": sorted(published(shipped("published"))),
                  "studies": at.selectbox(key="sweep_study").options,
                  "published": at.selectbox(key="sweep_run").options,
                  "rows": max(len(d.value) for d in at.dataframe), "charts": len(at.get("plotly_chart"))}))
"""
    seen = json.loads(in_project(installed, installed.python, "-c", code).splitlines()[-1])
    studies = sorted(p.stem for p in (ROOT / "studies").glob("*.toml"))  # every study of the checkout, shipped
    published = sorted(d.name for d in (ROOT / "docs" / "sweeps").iterdir() if (d / "results.csv").is_file())
    assert {"best-at-seed-size", "edge-of-chaos"} <= set(published) <= set(studies)
    assert seen["lookup"] == published and seen["studies"] == studies
    assert seen["published"] == [f"{s}: the results measured for the README" for s in published]
    assert seen["rows"] > 0 and seen["charts"] >= 2  # the published results read and drawn
