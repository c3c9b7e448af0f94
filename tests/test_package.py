"""The package: pyproject.toml, the ``rnnlab`` console script, ``rnnlab app``, the one version, and the wheel.

The wheel is built once a session (``rnnlab_wheel`` in conftest.py: ``pip wheel --no-deps`` of the checkout's
files, copied elsewhere so the checkout gets no build/ folder); tests/test_namespace.py installs it beside a
project of its own and runs the installed copy, the Sweep page's studies included.
"""

from __future__ import annotations

import json
import tomllib
import zipfile
from pathlib import Path

import pytest

from rnnlab import core
from rnnlab.core import app as app_module
from rnnlab.core import console

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
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    assert "rnnlab" in listed and not [p for p in listed if p.split(".")[0] != "rnnlab"]  # one top-level name
    for top in ("core", "dashboard"):  # each folder of the checkout ships as rnnlab.<folder>
        assert mapped[f"rnnlab.{top}"] == top
        for init in (ROOT / top).rglob("__init__.py"):
            assert "rnnlab." + ".".join(init.parent.relative_to(ROOT).parts) in listed, init
    assert (ROOT / mapped["rnnlab.dashboard.shipped.pages"] / "overview.py").is_file()
    assert (ROOT / mapped["rnnlab.dashboard.shipped"] / "config.toml").is_file()
    studies = {p.stem for p in (ROOT / mapped["rnnlab.core.studies"]).glob("*.toml")}
    assert studies >= {"edge-of-chaos", "best-at-seed-size"}
    assert (ROOT / mapped["rnnlab.core.studies.published"] / "edge-of-chaos" / "results.csv").is_file()


def test_the_console_script_exists_and_delegates_to_python_m_core(monkeypatch):
    assert PYPROJECT["project"]["scripts"]["rnnlab"] == "rnnlab.core.console:main"
    seen = {}
    monkeypatch.setattr("rnnlab.core.__main__.main", lambda argv=None, prog="": seen.update(argv=argv, prog=prog) or 7)
    assert console.main(["runs", "--json"]) == 7
    assert seen == {"argv": ["runs", "--json"], "prog": "rnnlab"}


def test_the_version_has_one_source(capsys):
    assert PYPROJECT["project"]["dynamic"] == ["version", "dependencies"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rnnlab.core.__version__"}
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
@pytest.fixture
def wheel(rnnlab_wheel) -> Path:
    return rnnlab_wheel


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
    top = "rnnlab/core/studies/"
    assert {n.removeprefix(top) for n in names if n.count("/") == 3 and n.startswith(top)} == studies
    for study in ("best-at-seed-size", "edge-of-chaos"):
        assert {f"{top}published/{study}/spec.toml", f"{top}published/{study}/results.csv"} <= names
    assert not [n for n in names if n.endswith((".log", "plan.json"))]
