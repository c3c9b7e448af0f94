"""Starting the dashboard: the Streamlit command line with the project's Streamlit config.

What it is: :func:`app_command` builds the command line that starts the dashboard with the project's
Streamlit config, found beside the code: ``dashboard/shipped/config.toml`` in an installed copy,
``.streamlit/config.toml`` in a checkout. Its settings become ``--section.key=value`` flags, so they hold
from any working folder; a flag the user gives wins over the config's. :func:`run_app` becomes that process.

What it is not: the dashboard. Nothing here imports Streamlit or ``dashboard``: the app runs as
``python -m streamlit run dashboard/app.py`` in its own process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages/rnnlab in an installed copy


def dashboard_files() -> tuple[Path, Path]:
    """(the Streamlit entrypoint, the Streamlit config) of this copy of RNN Lab."""
    app = ROOT / "dashboard" / "app.py"
    shipped = ROOT / "dashboard" / "shipped" / "config.toml"
    config = shipped if shipped.is_file() else ROOT / ".streamlit" / "config.toml"
    for path in (app, config):
        if not path.is_file():
            raise FileNotFoundError(f"this copy of RNN Lab has no {path}: reinstall it (pip install .)")
    return app, config


def config_flags(config: Path, given: list[str] = ()) -> list[str]:
    """The config's settings as Streamlit flags, less those the user set in ``given``."""
    settings = tomllib.loads(config.read_text(encoding="utf-8"))
    taken = {a.split("=", 1)[0] for a in given if a.startswith("--")}
    flags = []
    for section, values in settings.items():
        for key, value in values.items():
            flag = f"--{section}.{key}"
            if flag in taken:
                continue
            for item in value if isinstance(value, list) else [value]:  # a list: the flag once per item
                flags.append(f"{flag}={_text(item)}")
    return flags


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def app_command(streamlit_args: list[str]) -> list[str]:
    """``python -m streamlit run .../dashboard/app.py --server.address=127.0.0.1 ... [streamlit_args]``."""
    app, config = dashboard_files()
    return [sys.executable, "-m", "streamlit", "run", str(app), *config_flags(config, streamlit_args),
            *streamlit_args]


def run_app(streamlit_args: list[str]) -> int:
    """Become the dashboard's Streamlit process (its signals and exit status are Streamlit's own)."""
    command = app_command(streamlit_args)
    if os.name == "posix":
        os.execv(command[0], command)  # does not return
    return subprocess.call(command)
