"""The command line answers at once: building the parser, ``--help``, ``--version`` and every command's ``--help``
import none of the heavy libraries (torch, numpy, pandas, Streamlit, Plotly, scikit-learn, MLflow, TensorBoard and
the others the commands use). Each command imports what it needs when it runs. How fast that is, is measured by
``bench/bench_cli.py``; here only what is imported is checked, from ``python -X importtime``'s list of every module
a fresh interpreter imported."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab.core.__main__ import build_parser

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "numpy", "pandas", "streamlit", "plotly", "sklearn", "mlflow", "tensorboard", "scipy", "gensim",
         "hmmlearn", "captum", "safetensors", "pyarrow", "ray", "sqlalchemy", "alembic", "datasets", "tqdm")


def _commands() -> list[str]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def imported(*python_args: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """Run ``python -X importtime ARGS`` in the checkout; its result and the top-level packages it imported."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONIMPORTTIME", None)
    out = subprocess.run([sys.executable, "-X", "importtime", *python_args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    # each line: "import time: SELF | CUMULATIVE | <indent>package.module"
    names = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return out, {n.split(".")[0] for n in names}


def heavy(packages: set[str]) -> list[str]:
    return sorted(packages & set(HEAVY))


def test_the_commands_checked_are_every_command_of_the_parser():
    assert {"train", "sweep", "export", "app", "predict", "attribute", "neurons"} <= set(_commands())


@pytest.mark.parametrize("argv", [["--help"], ["--version"]] + [[c, "--help"] for c in _commands()],
                         ids=lambda argv: " ".join(argv))
def test_help_and_version_import_no_heavy_library(argv):
    out, packages = imported("-m", "rnnlab.core", *argv)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rnnlab" in packages  # the list is read right: it holds the package itself
    assert ("usage:" in out.stdout) if "--help" in argv else out.stdout.startswith("python -m rnnlab.core ")
    assert heavy(packages) == [], f"python -m core {' '.join(argv)} imported {heavy(packages)}"


def test_the_rnnlab_console_script_and_building_the_parser_import_no_heavy_library():
    out, packages = imported("-c", "import sys\nfrom rnnlab.core.console import main\n"
                                   "from rnnlab.core.__main__ import build_parser\n"
                                   "build_parser()\nsys.exit(main(['--version']))")
    assert out.returncode == 0 and out.stdout.startswith("rnnlab "), out.stderr[-2000:]
    assert heavy(packages) == []


def test_printing_a_run_file_imports_no_heavy_library(tmp_path):
    out, packages = imported("-m", "rnnlab.core", "train", "--preset", "fast", "--print-config")
    assert out.returncode == 0 and 'preset = "fast"' in out.stdout, out.stderr[-2000:]
    assert heavy(packages) == []


def test_the_check_sees_a_heavy_import():
    out, packages = imported("-c", "import numpy")
    assert out.returncode == 0 and heavy(packages) == ["numpy"]
