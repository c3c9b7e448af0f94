"""The package: pyproject.toml, the ``rnnlab`` console script, ``rnnlab app`` and the one version."""

from __future__ import annotations

import json
import tomllib
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
