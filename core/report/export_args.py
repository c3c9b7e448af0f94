"""The ``export`` command's arguments and the settings they show: standard library only.

What it is: :func:`add_export_arguments` (``RUN... --to tensorboard DIR | mlflow URI``) and the
constants its help and defaults name, so that the CLI builds its parser without importing the
export (:mod:`core.report.export`, which reads runs and so imports torch).

What it is not: the export itself, or the command's body (:func:`core.report.export.cmd_export`).
"""

from __future__ import annotations

import argparse

FORMATS = ("tensorboard", "mlflow")
DEFAULT_EXPERIMENT = "rnnlab"
MLFLOW_TIMEOUT_S = 15  # seconds an MLflow server has to accept a connection, and again to answer each request
MLFLOW_RETRIES = 2  # a failed request is tried again this many times, 0 s then 2 s apart (MLflow's default is
# 7 retries with growing pauses, ~4 minutes against a server that refuses, and 120 s per silent request)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``export`` command's arguments: ``RUN... --to tensorboard DIR | mlflow URI``."""
    parser.add_argument("run_ids", nargs="+", metavar="RUN", help="run ids to export")
    parser.add_argument("--to", nargs=2, required=True, metavar=("FORMAT", "TARGET"),
                        help="tensorboard DIR (one subfolder per run) or mlflow URI "
                             "(sqlite:///path/mlflow.db, file:/path/mlruns or a folder)")
    parser.add_argument("--experiment", default=DEFAULT_EXPERIMENT,
                        help=f"mlflow: the experiment's name (default {DEFAULT_EXPERIMENT})")
    parser.add_argument("--with-checkpoints", action="store_true",
                        help="mlflow: also upload checkpoint/ (the training states for resuming)")
    parser.add_argument("--timeout", type=int, default=MLFLOW_TIMEOUT_S, metavar="SECONDS",
                        help=f"mlflow over HTTP: seconds a server has to connect and to answer each request "
                             f"(default {MLFLOW_TIMEOUT_S}; each request is tried {1 + MLFLOW_RETRIES} times)")
    parser.add_argument("--runs-dir", help="where runs are stored (default $RNNLAB_HOME/runs)")
    parser.add_argument("--json", action="store_true", help="print what was exported and skipped as JSON")
