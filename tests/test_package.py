"""The package: pyproject.toml, the ``rnnlab`` console script, ``rnnlab app``, the one version, and the wheel.

The wheel is built once for this file (``pip wheel --no-deps`` of the checkout's files, copied elsewhere so the
checkout gets no build/ folder) and installed without its dependencies into a folder of its own: the installed
copy runs on this interpreter's torch and Streamlit, in a process whose working folder is not the checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest

import core
from core import app as app_module
from core import console

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_pyproject_builds_with_setuptools_and_keeps_the_tool_sections():
    assert PYPROJECT["build-system"]["build-backend"] == "setuptools.build_meta"
    assert PYPROJECT["project"]["name"] == "rnnlab"
    assert PYPROJECT["tool"]["ruff"]["line-length"] == 120
    assert PYPROJECT["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def test_the_dependencies_are_requirements_txt_with_torch_pinned():
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "torch==2.13.0" in lines
    assert not [ln for ln in lines if ln.startswith("-")]  # setuptools reads plain requirements only


def test_every_package_of_the_checkout_ships():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    for top in ("core", "dashboard"):
        for init in (ROOT / top).rglob("__init__.py"):
            assert ".".join(init.parent.relative_to(ROOT).parts) in listed, init
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert (ROOT / mapped["dashboard.shipped.pages"] / "overview.py").is_file()
    assert (ROOT / mapped["dashboard.shipped"] / "config.toml").is_file()
    assert {p.stem for p in (ROOT / mapped["core.studies"]).glob("*.toml")} >= {"edge-of-chaos", "best-at-seed-size"}
    assert (ROOT / mapped["core.studies.published"] / "edge-of-chaos" / "results.csv").is_file()


def test_the_console_script_exists_and_delegates_to_python_m_core(monkeypatch):
    assert PYPROJECT["project"]["scripts"]["rnnlab"] == "core.console:main"
    seen = {}
    monkeypatch.setattr("core.__main__.main", lambda argv=None, prog="": seen.update(argv=argv, prog=prog) or 7)
    assert console.main(["runs", "--json"]) == 7
    assert seen == {"argv": ["runs", "--json"], "prog": "rnnlab"}


def test_the_version_has_one_source(capsys):
    assert PYPROJECT["project"]["dynamic"] == ["version", "dependencies"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "core.__version__"}
    with pytest.raises(SystemExit) as e:
        console.main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"rnnlab {core.__version__}"


@pytest.fixture
def no_server(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a server was started")

    monkeypatch.setattr(app_module, "run_app", refuse)
    monkeypatch.setattr(app_module.subprocess, "call", refuse)
    monkeypatch.setattr(app_module.os, "execv", refuse)


def test_app_help_starts_no_server(no_server, capsys):
    with pytest.raises(SystemExit) as e:
        console.main(["app", "--help"])
    assert e.value.code == 0 and "--dry-run" in capsys.readouterr().out


def test_app_dry_run_gives_streamlit_the_projects_config_and_the_users_flags_last(no_server, capsys):
    assert console.main(["app", "--dry-run", "--json", "--server.port", "8502", "--server.address=0.0.0.0"]) == 0
    command = json.loads(capsys.readouterr().out)["command"]
    assert command[1:4] == ["-m", "streamlit", "run"] and Path(command[4]) == ROOT / "dashboard" / "app.py"
    assert "--server.fileWatcherType=none" in command and "--server.allowedHosts=localhost" in command
    assert command[-3:] == ["--server.port", "8502", "--server.address=0.0.0.0"]
    assert "--server.address=127.0.0.1" not in command  # the user's flag wins


def test_app_from_a_checkout_uses_the_checkouts_config(no_server, capsys):
    assert console.main(["app", "--dry-run"]) == 0
    assert "--server.address=127.0.0.1" in capsys.readouterr().out
    app, config = app_module.dashboard_files()
    assert config == ROOT / ".streamlit" / "config.toml" and app == ROOT / "dashboard" / "app.py"


# -- the wheel --------------------------------------------------------------------------------------------------
def pip(*args: str, cwd: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pip", "-q", *args], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of the checkout as it is now (tracked and new files, nothing git ignores)."""
    tmp = tmp_path_factory.mktemp("wheel")
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the checkout's files")
    listed = subprocess.run(["git", "ls-files", "-coz", "--exclude-standard"], cwd=ROOT, capture_output=True)
    if listed.returncode:
        pytest.skip(f"not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():  # a tracked file deleted in the working tree is left out
            (tmp / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp / "src" / name)
    # this interpreter's setuptools builds it when new enough (fast, offline); else pip fetches one, as CI does
    try:
        here = ["--no-build-isolation"] if int(version("setuptools").split(".")[0]) >= 77 else []
    except PackageNotFoundError:
        here = []
    pip("wheel", "--no-deps", *here, "-w", str(tmp / "dist"), str(tmp / "src"), cwd=tmp)
    [built] = (tmp / "dist").glob("rnnlab-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The wheel installed (without its dependencies) into a folder of its own: a site-packages for PYTHONPATH."""
    site = tmp_path_factory.mktemp("site")
    pip("install", "--no-deps", "--no-index", "--target", str(site), str(wheel), cwd=site)
    return site


def run_installed(site: Path, code: str, tmp_path: Path) -> str:
    """``code`` in a fresh process that imports the installed copy only: run from elsewhere, the checkout unseen."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site), "RNNLAB_HOME": str(tmp_path / "home")}
    check = f"""import sys, core
assert core.__file__.startswith({str(site)!r}), core.__file__
assert not [p for p in sys.path if p and {str(ROOT)!r} in p], sys.path
"""
    done = subprocess.run([sys.executable, "-c", check + code], cwd=elsewhere, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_the_wheel_has_the_licence_and_complete_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        info = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA")).rsplit("/", 1)[0]
        meta = z.read(f"{info}/METADATA").decode()
        licence = z.read(f"{info}/licenses/LICENSE").decode()
    head = meta.split("\n\n", 1)[0].splitlines()  # the header; the README follows it
    assert "License-Expression: MIT" in head and "License-File: LICENSE" in head
    assert licence.startswith("MIT License") and "RNN Lab contributors" in licence
    assert licence == (ROOT / "LICENSE").read_text()
    classifiers = [ln.removeprefix("Classifier: ") for ln in head if ln.startswith("Classifier: ")]
    assert {"Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
            "Operating System :: OS Independent", "Intended Audience :: Education",
            "Intended Audience :: Science/Research"} <= set(classifiers)
    assert not [c for c in classifiers if c.startswith("License ::")]  # the expression says it (PEP 639)
    urls = dict(ln.removeprefix("Project-URL: ").split(", ", 1) for ln in head if ln.startswith("Project-URL: "))
    assert set(urls) == {"Homepage", "Documentation", "Source", "Issues"}
    assert all(u.startswith("https://") for u in urls.values())
    assert any(ln.startswith("Author: ") for ln in head) and any(ln.startswith("Keywords: ") for ln in head)


def test_the_wheel_carries_the_studies_and_their_published_results_not_the_logs(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    studies = {p.name for p in (ROOT / "studies").glob("*.toml")}
    assert {n.removeprefix("core/studies/") for n in names if n.count("/") == 2 and n.startswith("core/studies/")} \
        == studies
    for study in ("best-at-seed-size", "edge-of-chaos"):
        assert {f"core/studies/published/{study}/spec.toml", f"core/studies/published/{study}/results.csv"} <= names
    assert not [n for n in names if n.endswith((".log", "plan.json"))]


def test_the_installed_sweep_page_offers_both_studies_and_their_published_results(installed, tmp_path):
    out = run_installed(installed, """
import json, pathlib, dashboard
from streamlit.testing.v1 import AppTest
from core.paths import shipped
from core.sweep.job import published
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
""", tmp_path)
    seen = json.loads(out.strip().splitlines()[-1])
    both = ["best-at-seed-size", "edge-of-chaos"]
    assert seen["lookup"] == both and seen["studies"] == both
    assert seen["published"] == [f"{s}: the results measured for the README" for s in both]
    assert seen["rows"] > 0 and seen["charts"] >= 2  # the published results read and drawn
