"""A stored run as an MLflow model: ``mlflow.pyfunc.load_model(uri).predict(pd.DataFrame({"text": [...]}))``.

What it is: :func:`log_run_model` logs a text-classifying run (an RNN, or a GMM-HMM) into the active MLflow run
as a ``python_function`` model named ``model``, with

- the run folder's files that inference reads as the artifact ``run`` (``config.json``, the weights or the
  HMM's parameters, ``vocab.json``, ``classes.json``; never ``checkpoint/``), plus NLTK's English stop-word
  list as this machine reads it when the run removes stop words, so the model needs no NLTK download;
- this project's ``core`` package as code, as ``rnnlab.core`` (``code_paths``: MLflow puts it on ``sys.path``), so
  the model loads in a process where RNN Lab is not installed;
- a signature (input: one string column ``text``; output: one double column per class name, in label order),
  an input example, and the packages inference imports pinned as ``requirements.txt`` pins them;
- the run's dataset as an input of the MLflow run (a ``MetaDataset``: its public source or the file it was
  added from, and a digest of the data settings the run read -- the run records those, not its source's bytes).

:class:`RunModel` is the model: ``load_context`` loads the shipped folder through
:func:`core.analysis.predict.load_run` (every file validated, the weights' digest checked) and ``predict``
scores each text with :func:`core.analysis.predict.classify`, the run's own preprocessing and encoding, so an
empty text, unknown words and a text over ``max_len`` or ``MAX_TEXT_CHARS`` get the answers ``predict`` gives.

mlflow (``mlflow-skinny``) is optional: it is imported when this module is, and a missing one is one line
naming the package. Not here: the export of a run's series and parameters (:mod:`core.report.export`).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from rnnlab import core
from rnnlab.core.analysis.predict import LoadedRun, classify, load_run
from rnnlab.core.data import sources
from rnnlab.core.data.imdb import IMDB_URL, DataError
from rnnlab.core.data.text import nltk_stopword_list, stopwords_found
from rnnlab.core.jobs.names import CLASSES_FILE, CONFIG_FILE, HMM_ARRAYS_FILE, VOCAB_FILE, WEIGHTS_FILE
from rnnlab.core.jobs.store import Run, run_dataset
from rnnlab.core.report.writers import require

mlflow = require("mlflow", "mlflow-skinny", "an MLflow model of a run")
pyfunc = require("mlflow.pyfunc", "mlflow-skinny", "an MLflow model of a run")

MODEL_NAME = "model"  # the logged model's name (its artifact path in the MLflow run)
RUN_ARTIFACT = "run"  # the artifact holding the run folder's inference files
TEXT_COLUMN = "text"
# the files inference reads, per kind of run (classes.json is written when an older run lacks it)
INFERENCE_FILES = {"rnn": (CONFIG_FILE, WEIGHTS_FILE, VOCAB_FILE), "hmm": (CONFIG_FILE, HMM_ARRAYS_FILE, VOCAB_FILE)}
STOPWORDS_DIR = "nltk_data"  # inside the shipped folder: corpora/stopwords/english, NLTK's layout
STOPWORDS_FILE = ("corpora", "stopwords", "english")
# what inference imports (core.analysis.predict and NLTK's list), pinned as requirements.txt pins them
INFERENCE_PACKAGES = ("torch", "numpy", "pandas", "pyarrow", "safetensors", "nltk", "tqdm")
# the model as MLflow's "models from code" script (run when the model is logged and when it is loaded, after the
# model's code folder is put on sys.path): nothing is pickled
MODEL_SCRIPT = ("from mlflow.models import set_model\n"
                "from rnnlab.core.report.mlflow_model import RunModel\n"
                "set_model(RunModel())\n")
EXAMPLE_TEXTS = ("A wonderful film: moving, funny and beautifully shot.", "Dull, far too long, and badly acted.")


# ---------------------------------------------------------------------------------- the model
def model_texts(model_input: Any) -> list[str]:
    """The texts of a model input: a DataFrame's ``text`` column, a Series, a list or tuple of strings, or a string.

    Raises ``ValueError`` naming the problem: no ``text`` column, or a cell that is not a string (a missing one
    included). Length is not checked here: :func:`~core.analysis.predict.classify` reads at most
    ``MAX_TEXT_CHARS`` characters of a text, as it does everywhere.
    """
    if isinstance(model_input, pd.DataFrame):
        if TEXT_COLUMN not in model_input.columns:
            cols = ", ".join(map(str, model_input.columns[:10])) or "none"
            raise ValueError(f"the input needs a {TEXT_COLUMN!r} column of strings; its columns: {cols}")
        values = model_input[TEXT_COLUMN].tolist()
    elif isinstance(model_input, pd.Series):
        values = model_input.tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    elif isinstance(model_input, list | tuple):
        values = list(model_input)
    else:
        raise ValueError(f"the input must be a DataFrame with a {TEXT_COLUMN!r} column, a Series or a list of "
                         f"strings, not a {type(model_input).__name__}")
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)):  # pandas reads a missing text as NaN
            raise ValueError(f"text {i} is missing: every row needs a string (an empty one is fine)")
        if not isinstance(v, str):
            raise ValueError(f"text {i} is a {type(v).__name__} ({v!r:.40}), not a string")
    return values


class RunModel(pyfunc.PythonModel):
    """An RNN Lab run, shipped as the artifact ``run``, that gives each text one probability per class."""

    def load_context(self, context: Any) -> None:
        folder = Path(context.artifacts[RUN_ARTIFACT])
        self.loaded = load_run(Run(folder))  # every file validated, the weights' digest checked
        text_cfg = self.loaded.cfg.text if isinstance(self.loaded, LoadedRun) else self.loaded.text
        if text_cfg.remove_stopwords:
            use_shipped_stopwords(folder / STOPWORDS_DIR)

    # model_input's hint is one MLflow accepts (it checks inputs against it); the signature says the columns
    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        classes = list(self.loaded.classes)
        rows = [classify(self.loaded, text)["probabilities"] for text in model_texts(model_input)]
        return pd.DataFrame([[float(r[c]) for c in classes] for r in rows], columns=classes, dtype="float64")


def use_shipped_stopwords(root: Path) -> None:
    """Read the shipped stop-word list where NLTK has none, and refuse to go on with a different one.

    NLTK's own list, when this machine has one, is searched first; the shipped copy is added to
    ``nltk.data.path`` only when there is none (so a process that already reads a list keeps its own). A
    list that differs from the shipped one would preprocess texts unlike the run: ``ValueError``, saying where.
    The copy's folders and file lose group and world write permission first: NLTK refuses data that other
    accounts could write, and a model downloaded under a umask of 002 (a common default) has group-writable folders.
    """
    import nltk

    shipped = root.joinpath(*STOPWORDS_FILE)
    if not shipped.is_file():
        raise ValueError(f"the model has no stop-word list at {shipped}: log the run again")
    for path in (root.joinpath(*STOPWORDS_FILE[:i]) for i in range(len(STOPWORDS_FILE) + 1)):  # root ... the list
        try:
            path.chmod(path.stat().st_mode & ~0o022)
        except OSError:  # not this account's: NLTK says what it refuses
            pass
    if stopwords_found() is None and str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    words = tuple(w.strip().lower() for w in shipped.read_text(encoding="utf-8").split() if w.strip())
    if nltk_stopword_list() != words:
        raise ValueError(f"NLTK's English stop-word list here ({stopwords_found()}) differs from the one the model "
                         f"was logged with: point NLTK_DATA at {root} to read the model's own")


# ---------------------------------------------------------------------------------- logging it
def log_run_model(run: Run) -> str:
    """Log ``run`` as the model ``model`` of the active MLflow run, with its dataset as an input; its model URI.

    The run is loaded first (a run that cannot classify text, has no weights yet or is damaged raises with
    the reason, and nothing is logged). Raises ``ValueError`` without an active MLflow run.
    """
    if mlflow.active_run() is None:
        raise ValueError("logging a run's model needs an active MLflow run (mlflow.start_run())")
    loaded = load_run(run)
    classes = list(loaded.classes)
    with tempfile.TemporaryDirectory(prefix="rnnlab-model-") as tmp:
        folder = ship_run(run, loaded, Path(tmp))
        code = ship_code(Path(tmp) / "code")
        script = Path(tmp) / "rnnlab_model.py"
        script.write_text(MODEL_SCRIPT, encoding="utf-8")
        where = {"name": MODEL_NAME} if "name" in inspect.signature(pyfunc.log_model).parameters else {
            "artifact_path": MODEL_NAME}  # mlflow < 3
        path = list(sys.path)
        try:
            info = pyfunc.log_model(**where, python_model=str(script), artifacts={RUN_ARTIFACT: str(folder)},
                                    code_paths=[str(code)], signature=model_signature(classes),
                                    input_example=pd.DataFrame({TEXT_COLUMN: list(EXAMPLE_TEXTS)}),
                                    pip_requirements=inference_requirements())
        finally:
            # MLflow loads the model here to check the example, putting its temporary code folder first on sys.path
            sys.path[:] = path
    mlflow.log_input(run_dataset_input(run, classes), context="training")
    return info.model_uri


def ship_run(run: Run, loaded: Any, root: Path) -> Path:
    """``root/RUN_ID/`` holding the run's inference files (the stop-word list too when the run removes them)."""
    folder = root / run.id
    folder.mkdir()
    for name in INFERENCE_FILES[run.kind]:
        shutil.copy2(run.file(name), folder / name)
    (folder / CLASSES_FILE).write_text(json.dumps(list(loaded.classes)), encoding="utf-8")
    text_cfg = loaded.cfg.text if isinstance(loaded, LoadedRun) else loaded.text
    if text_cfg.remove_stopwords:
        target = folder.joinpath(STOPWORDS_DIR, *STOPWORDS_FILE)
        target.parent.mkdir(parents=True)
        target.write_text("\n".join(nltk_stopword_list()) + "\n", encoding="utf-8")
    return folder


def ship_code(root: Path) -> Path:
    """``root/rnnlab/``: the package name and a copy of ``core`` under it (without bytecode caches), for
    ``code_paths`` (MLflow puts ``root`` on ``sys.path``, so ``rnnlab.core`` imports as it does installed)."""
    target = root / "rnnlab"
    shutil.copytree(Path(core.__file__).parent, target / "core", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "__init__.py").write_text('"""RNN Lab\'s core, shipped with an MLflow model: rnnlab.core."""\n',
                                        encoding="utf-8")
    return target


def model_signature(classes: Sequence[str]) -> Any:
    """Input: one string column ``text``; output: one double column per class name."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", TEXT_COLUMN)]),
                          outputs=Schema([ColSpec("double", c) for c in classes]))


def project_requirements() -> list[str]:
    """The project's requirement lines: ``requirements.txt`` beside ``core`` in a checkout, else the installed
    distribution's (built from that same file)."""
    path = Path(core.__file__).resolve().parent.parent / "requirements.txt"
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
    else:
        try:
            lines = metadata.requires("rnnlab") or []
        except metadata.PackageNotFoundError:
            lines = []
    return [line.split("#")[0].strip() for line in lines if line.split("#")[0].strip() and "extra ==" not in line]


def inference_requirements() -> list[str]:
    """The requirement of each package inference imports, as the project states it (torch pinned there)."""
    named = {re.match(r"[A-Za-z0-9_.-]+", r).group(0).lower(): r for r in project_requirements()}
    return [named.get(p, p) for p in INFERENCE_PACKAGES]


def run_dataset_input(run: Run, classes: Sequence[str]) -> Any:
    """The run's dataset as an MLflow ``MetaDataset``: named as runs show it, with its source and a digest of
    the data settings the run read (dataset, limit, validation split, classes)."""
    from mlflow.data.http_dataset_source import HTTPDatasetSource
    from mlflow.data.meta_dataset import MetaDataset
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.types import ColSpec, Schema

    cfg = run.config_dict()
    name = run_dataset(cfg) or sources.BUILTIN
    if sources.is_imdb(name):
        source = HTTPDatasetSource(IMDB_URL)
    else:
        try:  # the file or folder it was added from; the registry entry's place when the dataset is gone
            where = sources.read_entry(name)["source"]
        except (OSError, DataError):
            where = str(sources.datasets_dir() / f"{name}.json")
        source = LocalArtifactDatasetSource(where)
    data = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    settings = {"dataset": name, **{k: data.get(k) for k in ("limit", "val_size", "split_seed")},
                "classes": list(classes)}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    schema = Schema([ColSpec("string", TEXT_COLUMN), ColSpec("string", "label")])
    return MetaDataset(source, name=name, digest=digest, schema=schema)
