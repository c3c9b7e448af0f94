"""Datasets beyond IMDB (core.data.sources): add, list, info, train and predict on them; bad input refused."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from rnnlab.core.__main__ import main
from rnnlab.core.config import DataConfig
from rnnlab.core.data import readers, sources

WORDS = {
    "sports": ["football", "match", "goal", "team", "score", "player", "league", "coach"],
    "cooking": ["recipe", "oven", "flour", "bake", "sauce", "kitchen", "pepper", "garlic"],
    "weather": ["rain", "cloud", "storm", "sunny", "wind", "forecast", "thunder", "snow"],
}


def sentences(cls: str, n: int = 30, seed: int = 0) -> list[str]:
    rng = random.Random(f"{cls}{seed}")
    return [" ".join(rng.choice(WORDS[cls]) for _ in range(6)) + "." for _ in range(n)]


def write_csv(path: Path, rows: list[list[str]], header=("sentence", "topic"), sep=",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def three_class_csv(tmp_path: Path) -> Path:
    rows = [[s, cls] for cls in WORDS for s in sentences(cls)]
    random.Random(1).shuffle(rows)
    return write_csv(tmp_path / "topics.csv", rows)


@pytest.fixture
def two_class_folder(tmp_path: Path) -> Path:
    root = tmp_path / "reviews"
    for split, n in (("train", 24), ("test", 8)):
        for cls in ("sports", "cooking"):
            (root / split / cls).mkdir(parents=True)
            for i, s in enumerate(sentences(cls, n, seed=hash(split) % 7)):
                (root / split / cls / f"{i}.txt").write_text(s, encoding="utf-8")
    return root


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out = capsys.readouterr()
    return rc, out.out, out.err


def caches(home: Path) -> list[Path]:
    return sorted((home / "data" / "cache").glob("dataset-*.parquet")) if (home / "data" / "cache").is_dir() else []


TRAIN = ["--model", "lstm", "--epochs", "2", "--hidden-size", "8", "--embedding-dim", "8", "--val-size", "6",
         "--threads", "1"]


def test_a_three_class_csv_is_added_listed_described_trained_and_predicted(rnnlab_home, three_class_csv, capsys):
    rc, out, err = cli(capsys, "data", "add", str(three_class_csv), "--name", "topics", "--text-col", "sentence",
                       "--label-col", "topic", "--json")
    assert rc == 0, err
    entry = json.loads(out)
    assert entry["classes"] == ["cooking", "sports", "weather"]
    assert sum(sum(c.values()) for c in entry["counts"].values()) == 90
    assert entry["counts"]["test"] == {"cooking": 6, "sports": 6, "weather": 6}  # stratified 20 %
    assert (rnnlab_home / "datasets" / "topics.json").is_file() and len(caches(rnnlab_home)) == 1

    rc, out, err = cli(capsys, "data", "list", "--json")
    assert rc == 0, err
    assert [r["name"] for r in json.loads(out)] == ["topics"]  # no IMDB in this home

    rc, out, err = cli(capsys, "data", "info", "--dataset", "topics", "--json")
    assert rc == 0, err
    info = json.loads(out)
    assert info["counts"]["train"] == {"cooking": 24, "sports": 24, "weather": 24}
    assert info["token_lengths_seed_pipeline"]["train"]["max"] >= 1

    rc, out, err = cli(capsys, "train", "--dataset", "topics", *TRAIN)
    assert rc == 0, err
    run_id = out.strip().splitlines()[-1]
    run = rnnlab_home / "runs" / run_id
    tm = json.loads((run / "test_metrics.json").read_text())
    assert tm["classes"] == ["cooking", "sports", "weather"] and tm["average"] == "macro"
    assert 0.0 <= tm["f1"] <= 1.0 and len(tm["per_class"]) == 3 and tm["n"] == 18
    cm = tm["class_confusion_matrix"]
    assert len(cm) == 3 and all(len(row) == 3 for row in cm) and sum(map(sum, cm)) == 18
    assert json.loads((run / "classes.json").read_text()) == ["cooking", "sports", "weather"]

    rc, out, err = cli(capsys, "predict", run_id, "rain storm and thunder with snow", "--json")
    assert rc == 0, err
    [answer] = json.loads(out)
    assert answer["label"] in ("cooking", "sports", "weather")
    assert set(answer["probabilities"]) == {"cooking", "sports", "weather"}
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)


def test_a_two_class_folder_trains_with_one_logit_and_predicts_its_own_names(rnnlab_home, two_class_folder, capsys):
    rc, out, err = cli(capsys, "data", "add", str(two_class_folder), "--name", "sc", "--json")
    assert rc == 0, err
    entry = json.loads(out)
    assert entry["format"] == "folder" and entry["classes"] == ["cooking", "sports"]
    assert entry["counts"]["test"] == {"cooking": 8, "sports": 8}

    rc, out, err = cli(capsys, "data", "info", "--dataset", "sc", "--no-stats", "--json")
    assert rc == 0, err
    assert json.loads(out)["counts"]["train"] == {"cooking": 24, "sports": 24}

    rc, out, err = cli(capsys, "train", "--dataset", "sc", *TRAIN)
    assert rc == 0, err
    run_id = out.strip().splitlines()[-1]
    tm = json.loads((rnnlab_home / "runs" / run_id / "test_metrics.json").read_text())
    assert tm["classes"] == ["cooking", "sports"] and len(tm["confusion_matrix"]) == 2 and tm["n"] == 16
    assert tm["roc_auc"] is not None  # the binary metrics, as for IMDB

    rc, out, err = cli(capsys, "predict", run_id, "bake the garlic sauce in the oven", "--json")
    assert rc == 0, err
    assert json.loads(out)[0]["label"] in ("cooking", "sports")


def test_a_source_with_a_split_column_keeps_its_splits(rnnlab_home, tmp_path):
    rows = []
    for cls in ("sports", "cooking"):
        for i, s in enumerate(sentences(cls, 20)):
            rows.append({"text": s, "label": 1 if cls == "sports" else 0,
                         "part": ["train", "train", "validation", "test"][i % 4]})
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    entry = sources.add_dataset(path, "jl", split_col="part")
    assert entry["classes"] == ["0", "1"]
    assert entry["counts"] == {s: {"0": n, "1": n} for s, n in (("train", 10), ("val", 5), ("test", 5))}
    frames = sources.split_dataset(sources.load_dataset("jl"), DataConfig(dataset="jl", val_size=2))
    assert [len(frames[s]) for s in ("train", "val", "test")] == [20, 10, 10]


def test_tsv_and_parquet_sources_read_like_csv(rnnlab_home, tmp_path):
    import pandas as pd

    rows = [[s, cls] for cls in ("sports", "weather") for s in sentences(cls, 10)]
    tsv = write_csv(tmp_path / "d.tsv", rows, header=("text", "label"), sep="\t")
    pq_path = tmp_path / "d.parquet"
    pd.DataFrame(rows, columns=["text", "label"]).to_parquet(pq_path)
    a, b = sources.add_dataset(tsv, "t"), sources.add_dataset(pq_path, "p")
    assert a["counts"] == b["counts"] and a["classes"] == ["sports", "weather"]


def test_the_builtin_name_and_bad_names_are_refused(rnnlab_home, three_class_csv):
    with pytest.raises(ValueError, match="built-in"):
        sources.add_dataset(three_class_csv, "imdb", text_col="sentence", label_col="topic")
    with pytest.raises(ValueError, match="letters, digits"):
        sources.add_dataset(three_class_csv, "../x", text_col="sentence", label_col="topic")
    with pytest.raises(ValueError):
        DataConfig(dataset="a b")


def _bad_sources(tmp: Path) -> list[tuple[str, Path, dict, str]]:
    good = [[s, cls] for cls in ("sports", "cooking") for s in sentences(cls, 5)]
    ragged = tmp / "ragged.csv"
    ragged.write_text("text,label\nhello there,a\none,two,three\n", encoding="utf-8")
    utf = tmp / "latin.csv"
    utf.write_bytes("text,label\ncaf\u00e9 au lait,a\nfoo bar,b\n".encode("latin-1"))
    big = write_csv(tmp / "big.csv", good, header=("text", "label"))
    return [
        ("missing column", write_csv(tmp / "m.csv", good, header=("text", "label")), {"label_col": "topic"},
         "no label column 'topic'"),
        ("empty label", write_csv(tmp / "e.csv", [*good, ["some words", ""]], header=("text", "label")), {},
         "line 12: the label column 'label' is empty"),
        ("empty text", write_csv(tmp / "t.csv", [*good, ["  ", "sports"]], header=("text", "label")), {},
         "line 12: the text column 'text' is empty"),
        ("one class", write_csv(tmp / "o.csv", [[s, "x"] for s in sentences("sports", 5)], header=("text", "label")),
         {}, "two classes"),
        ("ragged row", ragged, {}, "line 3: 3 fields, but the header has 2"),
        ("invalid utf-8", utf, {}, "not UTF-8 text: byte 0xe9"),
        ("oversized file", big, {"_limit": 100}, "MAX_SOURCE_BYTES"),
    ]


@pytest.mark.parametrize("case", range(7), ids=["missing column", "empty label", "empty text", "one class",
                                                "ragged row", "invalid utf-8", "oversized file"])
def test_bad_input_gives_a_clear_message_and_writes_no_cache(rnnlab_home, tmp_path, monkeypatch, capsys, case):
    what, path, opts, message = _bad_sources(tmp_path)[case]
    if "_limit" in opts:
        monkeypatch.setattr(readers, "MAX_SOURCE_BYTES", opts.pop("_limit"))  # the readers' bound
    args = ["data", "add", str(path), "--name", "bad"] + [a for k, v in opts.items()
                                                           for a in (f"--{k.replace('_', '-')}", v)]
    rc, out, err = cli(capsys, *args)
    assert rc == 1, what
    assert message in err and str(path.name) in err, err
    assert caches(rnnlab_home) == [] and not (rnnlab_home / "datasets" / "bad.json").exists()


def test_a_class_folder_with_bad_bytes_names_the_file(rnnlab_home, two_class_folder):
    bad = two_class_folder / "train" / "sports" / "0.txt"
    bad.write_bytes(b"\xff\xfe broken")
    with pytest.raises(sources.DataError, match="0.txt is not UTF-8"):
        sources.add_dataset(two_class_folder, "x")
    assert caches(rnnlab_home) == []


def test_training_on_an_unknown_dataset_says_how_to_add_one(rnnlab_home, capsys):
    rc, out, err = cli(capsys, "train", "--dataset", "nope", *TRAIN)
    assert rc == 1 and "no dataset named 'nope'" in err and "data add" in err


# --------------------------------------------------------------------------- Hugging Face save_to_disk folders


def save_hf(path: Path, splits: dict[str, list[tuple[str, int]]], names: list[str] | None = None) -> Path:
    datasets = pytest.importorskip("datasets", reason="the optional Hugging Face `datasets` package is not installed")
    label = datasets.ClassLabel(names=names) if names else datasets.Value("int64")
    features = datasets.Features({"review": datasets.Value("string"), "stars": label})
    parts = {name: datasets.Dataset.from_dict({"review": [t for t, _ in rows], "stars": [y for _, y in rows]},
                                              features=features) for name, rows in splits.items()}
    out = datasets.DatasetDict(parts) if len(parts) > 1 else next(iter(parts.values()))
    out.save_to_disk(str(path))
    return path


def test_a_hugging_face_dataset_dict_keeps_its_splits_and_class_label_names(rnnlab_home, tmp_path, capsys):
    rows = {cls: sentences(cls, 20) for cls in ("sports", "cooking")}
    train = [(s, 0) for s in rows["cooking"][:15]] + [(s, 1) for s in rows["sports"][:15]]
    test = [(s, 0) for s in rows["cooking"][15:]] + [(s, 1) for s in rows["sports"][15:]]
    unsup = [("no label here", -1)] * 4  # like IMDB's 'unsupervised' split: unlabelled texts, word2vec's
    path = save_hf(tmp_path / "hf", {"train": train, "test": test, "unsupervised": unsup}, names=["cooking", "sports"])

    rc, out, err = cli(capsys, "data", "add", str(path), "--name", "hfsc", "--text-col", "review",
                       "--label-col", "stars", "--json")
    assert rc == 0, err
    entry = json.loads(out)
    assert entry["format"] == "hf" and entry["classes"] == ["cooking", "sports"]
    assert entry["counts"] == {"train": {"cooking": 15, "sports": 15}, "test": {"cooking": 5, "sports": 5},
                               "unsup": {"unlabelled": 4}}
    df = sources.load_dataset("hfsc")
    assert set(df[df["split"] == "test"]["text"]) == {t for t, _ in test}
    assert (df[df["split"] == "unsup"]["label"] == -1).all() and (df[df["split"] == "unsup"]["text"]).size == 4

    rc, out, err = cli(capsys, "train", "--dataset", "hfsc", *TRAIN)
    assert rc == 0, err
    run_id = out.strip().splitlines()[-1]
    rc, out, err = cli(capsys, "predict", run_id, "a goal for the team", "--json")
    assert rc == 0, err
    assert json.loads(out)[0]["label"] in ("cooking", "sports")


def test_a_single_hugging_face_dataset_gets_the_seeded_split_and_integer_labels(rnnlab_home, tmp_path):
    rows = [(s, 0) for s in sentences("cooking", 20)] + [(s, 1) for s in sentences("weather", 20)]
    path = save_hf(tmp_path / "one", {"all": rows})
    entry = sources.add_dataset(path, "one", text_col="review", label_col="stars")
    assert entry["format"] == "hf" and entry["classes"] == ["0", "1"]
    assert entry["counts"]["test"] == {"0": 4, "1": 4}


def test_a_hugging_face_folder_with_a_wrong_column_or_damaged_files_is_refused_by_name(rnnlab_home, tmp_path):
    path = save_hf(tmp_path / "hf", {"train": [("a", 0), ("b", 1)], "test": [("c", 0), ("d", 1)]}, names=["x", "y"])
    with pytest.raises(sources.SourceError, match="no text column 'text'.*'review'"):
        sources.add_dataset(path, "hf")
    for arrow in path.rglob("*.arrow"):
        arrow.write_bytes(b"not arrow at all")
    with pytest.raises(sources.SourceError, match="as a Hugging Face dataset"):
        sources.add_dataset(path, "hf", text_col="review", label_col="stars")
    assert not (rnnlab_home / "datasets" / "hf.json").exists() and not caches(rnnlab_home)


def test_without_the_datasets_package_a_hugging_face_folder_says_what_to_install(rnnlab_home, tmp_path, monkeypatch):
    path = tmp_path / "hf"
    path.mkdir()
    (path / "dataset_dict.json").write_text('{"splits": ["train"]}')
    monkeypatch.setitem(__import__("sys").modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(sources.SourceError, match="pip install datasets"):
        sources.add_dataset(path, "hf")


# --------------------------------------------------------------------------- uploads (the Overview page)


def test_an_upload_is_kept_and_added_and_a_bad_one_replaces_nothing(rnnlab_home, three_class_csv):
    good = three_class_csv.read_bytes()
    entry = sources.add_uploaded_dataset(good, "my topics.csv", "up", text_col="sentence", label_col="topic")
    kept = sources.uploads_dir() / "up.csv"
    assert Path(entry["source"]) == kept.resolve() and kept.read_bytes() == good
    assert entry["classes"] == ["cooking", "sports", "weather"]

    bad = good.replace(b"sentence,topic", b"words,topic")  # the text column is gone
    with pytest.raises(sources.SourceError, match="no text column 'sentence'"):
        sources.add_uploaded_dataset(bad, "topics.csv", "up", text_col="sentence", label_col="topic")
    assert kept.read_bytes() == good and sources.read_entry("up")["classes"] == entry["classes"]
    assert sorted(p.name for p in sources.uploads_dir().iterdir()) == ["up.csv"]  # no staged file left

    with pytest.raises(sources.SourceError, match="upload a .csv"):
        sources.add_uploaded_dataset(good, "topics.xlsx", "other")
    with pytest.raises(ValueError, match="built-in"):
        sources.add_uploaded_dataset(good, "topics.csv", "imdb")
    with pytest.raises(ValueError, match="dataset name"):
        sources.add_uploaded_dataset(good, "topics.csv", "../escape")
    assert not (rnnlab_home / "datasets" / "other.json").exists()
