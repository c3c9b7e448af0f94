"""A run logged as an MLflow model loads in a fresh process where RNN Lab is not importable and gives, per class,
the probabilities :func:`core.analysis.predict.classify` gives in this one."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")
pytest.importorskip("alembic")

import mlflow  # noqa: E402 - after the skips

from rnnlab.core.analysis.predict import MAX_TEXT_CHARS, classify, load_run  # noqa: E402
from rnnlab.core.jobs.names import FAILED  # noqa: E402
from rnnlab.core.jobs.store import RunStore  # noqa: E402
from rnnlab.core.report.mlflow_model import log_run_model, model_texts  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TEXTS = ["a wonderful moving film, superb acting", "dull, boring and far too long", "",
         "zzqx unknownword", "not good <br /> at all!!! 😀", "film " * 100]

# run in a fresh process: load each model by its URI, predict the texts, and try a DataFrame without "text"; print
# the probabilities, the signatures and where core came from
LOAD = """
import json, sys
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
texts = json.loads(sys.argv[3])
answers = []
for uri in json.loads(sys.argv[2]):
    model = mlflow.pyfunc.load_model(uri)
    out = model.predict(pd.DataFrame({"text": texts}))
    try:
        model.predict(pd.DataFrame({"review": texts}))
        refused = None
    except Exception as e:
        refused = str(e)
    answers.append({"columns": list(out.columns), "dtypes": [str(t) for t in out.dtypes],
                    "values": out.values.tolist(), "refused": refused,
                    "inputs": model.metadata.get_input_schema().to_dict(),
                    "outputs": model.metadata.get_output_schema().to_dict()})
import rnnlab.core as core
print(json.dumps({"core": core.__file__, "answers": answers}))
"""


@pytest.fixture(scope="module")
def store_uri(tmp_path_factory):
    """One ``sqlite:`` tracking store for the module (making its tables takes seconds), this process's store."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    before = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(before)


@pytest.fixture
def tracking(store_uri, tmp_path):
    """The store's URI and a new experiment in it whose artifacts live in ``tmp_path``."""
    exp = mlflow.create_experiment(tmp_path.name, artifact_location=(tmp_path / "artifacts").as_uri())
    yield store_uri, exp
    if mlflow.active_run():
        mlflow.end_run()


def _fresh_process(tmp_path: Path, uri: str, model_uris: list[str], texts: list[str]) -> list[dict]:
    """The LOAD script's answers from a process started outside the repository, without its path or NLTK's data."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NLTK_DATA", "RNNLAB_HOME")}
    env["HOME"] = str(tmp_path / "home")  # no ~/nltk_data either: the model's own stop-word list is read
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    done = subprocess.run([sys.executable, "-c", LOAD, uri, json.dumps(model_uris), json.dumps(texts)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=120, umask=0o002)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert not Path(out["core"]).resolve().is_relative_to(REPO)  # core came with the model
    return out["answers"]


def _log(run, experiment_id: str) -> tuple[str, str]:
    """Log ``run``'s model in a new MLflow run: the URI log_run_model returns and the MLflow run's id."""
    path = list(sys.path)
    with mlflow.start_run(experiment_id=experiment_id) as active:
        model_uri = log_run_model(run)
    assert sys.path == path  # the model's temporary code folder is not left on this process's path
    assert mlflow.models.get_model_info(model_uri).signature.inputs.input_names() == ["text"]
    return model_uri, active.info.run_id


def _check(answer: dict, run, texts: list[str]) -> None:
    """The fresh process's answer: classify's probabilities in this one, the signature, a refusal without "text"."""
    loaded = load_run(run)
    classes = list(loaded.classes)
    expected = [[classify(loaded, t)["probabilities"][c] for c in classes] for t in texts]
    assert answer["columns"] == classes and set(answer["dtypes"]) == {"float64"}
    np.testing.assert_allclose(answer["values"], expected, atol=1e-6, rtol=0)
    np.testing.assert_allclose(np.sum(answer["values"], axis=1), 1.0, atol=1e-6)
    assert "text" in answer["refused"]
    assert answer["inputs"] == [{"type": "string", "name": "text", "required": True}]
    assert answer["outputs"] == [{"type": "double", "name": c, "required": True} for c in classes]


def test_a_logged_imdb_run_predicts_the_same_probabilities_in_a_process_without_rnnlab(trained_copy, tracking,
                                                                                         tmp_path):
    store = RunStore()
    run = next(r for r in store.list() if r.kind == "rnn" and (r.path / "model.safetensors").is_file()
               and r.config().train.batching == "fixed")
    assert (run.path / "checkpoint").is_dir()
    uri, experiment = tracking
    model_uri, mlflow_run_id = _log(run, experiment)
    [answer] = _fresh_process(tmp_path, uri, [f"runs:/{mlflow_run_id}/model"], TEXTS)
    _check(answer, run, TEXTS)

    artifacts = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "dl")))
    shipped = sorted(p.name for p in (artifacts / "artifacts" / run.id).iterdir())
    assert shipped == ["classes.json", "config.json", "model.safetensors", "nltk_data", "vocab.json"]  # no checkpoint
    assert "torch==2.13.0" in (artifacts / "requirements.txt").read_text().split()
    [data] = mlflow.get_run(mlflow_run_id).inputs.dataset_inputs
    assert data.dataset.name == "imdb" and "aclImdb_v1.tar.gz" in data.dataset.source
    assert {t.key: t.value for t in data.tags}["mlflow.data.context"] == "training"


def test_a_three_class_rnn_and_gmm_hmm_answer_in_their_class_names(rnnlab_home, tracking, tmp_path, monkeypatch):
    from fixtures_runs import nltk_data

    from rnnlab.core.config import (
        DataConfig,
        HMMConfig,
        HMMRunConfig,
        TextConfig,
        Word2VecConfig,
        Word2VecRunConfig,
        preset,
    )
    from rnnlab.core.data import sources
    from rnnlab.core.jobs.lifecycle import run_now
    from rnnlab.core.jobs.vectors import resolve_vectors

    if nltk_data():
        monkeypatch.setenv("NLTK_DATA", nltk_data())
    rng = random.Random(0)
    topics = {"sports": ["football", "goal", "team"], "cooking": ["recipe", "oven", "flour"],
              "weather": ["rain", "cloud", "storm"]}
    rows = [(" ".join(rng.choices(words, k=5)), cls) for cls, words in topics.items() for _ in range(20)]
    csv = tmp_path / "topics.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{c}\n" for t, c in rows), encoding="utf-8")
    sources.add_dataset(csv, "topics")
    store = RunStore()
    rnn = run_now("rnn", preset("fast", cell="gru", dataset="topics", epochs=1, hidden_size=8, embedding_dim=8,
                                batching="bucket"), store)
    data, text = DataConfig(dataset="topics"), TextConfig(remove_stopwords=False)
    run_now("word2vec", Word2VecRunConfig(data=data, text=text, word2vec=Word2VecConfig(dim=8, min_count=1, epochs=1)),
            store)
    cfg, _ = resolve_vectors(HMMRunConfig(data=data, text=text, hmm=HMMConfig(states=2, mix=1, dim=2, n_iter=3,
                                                                                 restarts=1)), store)
    hmm = run_now("hmm", cfg, store)

    uri, experiment = tracking
    logged = [_log(run, experiment) for run in (rnn, hmm)]
    texts = ["football goal team", "the oven and the flour", "rain", "", "unknownword"]
    answers = _fresh_process(tmp_path, uri, [model_uri for model_uri, _ in logged], texts)
    for answer, run in zip(answers, (rnn, hmm), strict=True):
        assert answer["columns"] == ["cooking", "sports", "weather"]
        _check(answer, run, texts)
    [data] = mlflow.get_run(logged[0][1]).inputs.dataset_inputs
    assert data.dataset.name == "topics" and str(csv) in data.dataset.source


def test_bad_input_is_refused_with_the_reason_and_long_texts_are_read_as_predict_reads_them():
    with pytest.raises(ValueError, match="needs a 'text' column of strings; its columns: review"):
        model_texts(pd.DataFrame({"review": ["x"]}))
    with pytest.raises(ValueError, match="text 1 is missing"):
        model_texts(pd.DataFrame({"text": ["fine", None]}))
    with pytest.raises(ValueError, match="text 0 is a int"):
        model_texts([3])
    with pytest.raises(ValueError, match="not a dict"):
        model_texts({"text": ["x"]})
    assert model_texts(pd.Series(["a", "b"])) == ["a", "b"] == model_texts(("a", "b"))
    assert model_texts("x" * (MAX_TEXT_CHARS + 5)) == ["x" * (MAX_TEXT_CHARS + 5)]  # classify cuts it, and says so


def test_logging_needs_an_active_run_and_a_run_that_classifies_text(trained_copy, tracking):
    store = RunStore()
    failed = next(r for r in store.list() if r.status()["state"] == FAILED)
    with pytest.raises(ValueError, match="needs an active MLflow run"):
        log_run_model(failed)
    with mlflow.start_run(experiment_id=tracking[1]), pytest.raises(ValueError, match="no trained weights"):
        log_run_model(failed)


def test_a_missing_mlflow_is_one_line_naming_the_package(monkeypatch):
    import importlib

    from rnnlab.core.report.writers import MissingDependency

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    monkeypatch.delitem(sys.modules, "rnnlab.core.report.mlflow_model")  # restored after the test
    with pytest.raises(MissingDependency, match=r"^an MLflow model of a run needs the 'mlflow-skinny' package: "
                                                r"pip install mlflow-skinny$"):
        importlib.import_module("rnnlab.core.report.mlflow_model")
