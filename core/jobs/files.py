"""The one validating reader of run files: every file of a run folder is input, checked before it is used.

What it is: a reader per file the run store reads (``config.json``, ``status.json``,
``test_metrics.json``, ``metrics.jsonl``, ``vocab.json``, ``results.json``, ``hmm.json``,
``word2vec.json``, ``embeddings.json``, ``data.json``, ``annotations.json`` and the header of
``model.safetensors``), each with a size cap (nothing larger is loaded: a 2 GB status file is
refused by its size) and a schema (types, ranges, required keys). Any failure raises
:class:`DamagedRun`, whose text is ``run ID is damaged: FILE: why``; nothing else escapes a reader.
``metrics.jsonl`` is a log: a bad line (torn by a crash, not JSON, not UTF-8, over the line cap,
wrongly typed) is counted and skipped, never fatal. ``annotations.json`` (a user's name, note and
hidden flag) is not a result: a bad one is ignored with a warning (:func:`read_annotations`), never
a reason to call the run damaged.

What it is not: it writes nothing (``core.jobs.store`` and ``core.atomic`` write) and decides
nothing about a run's lifecycle; it imports neither torch nor the models (a model's
safetensors header is read by :mod:`core.models.safetensors_header`: no tensor data, no torch).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab.core.config import (
    JOB_CONFIGS,
    config_from_dict,
    split_optional,
    type_hints,
    validate,
)
from rnnlab.core.data.text import Vocabulary, vocabulary_problem
from rnnlab.core.jobs.names import (
    ANNOTATIONS_FILE,
    CLASSES_FILE,
    CONFIG_FILE,
    DATA_FILE,
    EMBEDDINGS_FILE,
    FINISHED,
    HMM_FILE,
    RESULTS_FILE,
    STATES,
    STATUS_FILE,
    TEST_METRICS_FILE,
    VOCAB_FILE,
    WORD2VEC_FILE,
)

META_KEYS = ("kind", "label", "created", "imported")

# Size caps: far above what RNN Lab writes, low enough that reading one never strains the machine.
MiB = 2**20
MAX_BYTES = {
    CONFIG_FILE: 1 * MiB,  # ~2 KB written
    STATUS_FILE: 1 * MiB,  # ~1 KB written
    TEST_METRICS_FILE: 32 * MiB,  # the ROC curve of 50,000 reviews is ~2 MB
    VOCAB_FILE: 64 * MiB,  # 500,000 words (VOCAB_MAX) of ~20 bytes with their counts
    RESULTS_FILE: 32 * MiB,  # a memory-horizon study with its per-evaluation histories
    HMM_FILE: 32 * MiB,  # every restart's log-likelihood per iteration
    WORD2VEC_FILE: 4 * MiB,
    EMBEDDINGS_FILE: 1 * MiB,
    DATA_FILE: 1 * MiB,
    ANNOTATIONS_FILE: 64 * 1024,  # a name of 80 characters and a note of 2,000: ~10 KB at most
}
MAX_OTHER_JSON_BYTES = 16 * MiB  # a JSON file of a run without a schema here
MAX_METRICS_BYTES = 256 * MiB  # metrics.jsonl: records past this are not read (reported as unread bytes)
MAX_METRICS_LINE_BYTES = 1 * MiB  # one record is ~300 bytes
MAX_PROBLEMS_SHOWN = 8


class DamagedRun(ValueError):
    """A run file that cannot be read or does not hold what it should: ``run ID is damaged: FILE: why``.

    A ``ValueError``, so code that already refuses bad values refuses a damaged run too.
    """

    def __init__(self, run_id: str, file: str, reason: str):
        super().__init__(run_id, file, reason)
        self.run_id, self.file, self.reason = run_id, file, reason

    def __str__(self) -> str:
        return f"run {self.run_id} is damaged: {self.file}: {self.reason}"


# -- reading bytes, with a cap ----------------------------------------------------------------------------------
def _read_capped(run_id: str, path: Path, cap: int) -> bytes:
    """The bytes of ``path``, refused (never read) when the file is larger than ``cap``."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size  # a sparse 2 GB file is refused here, before any read
            if size > cap:
                raise DamagedRun(run_id, path.name, f"{size:,} bytes, more than the {cap:,} it may hold")
            data = f.read(cap + 1)
    except FileNotFoundError:
        raise DamagedRun(run_id, path.name, "missing") from None
    except IsADirectoryError:
        raise DamagedRun(run_id, path.name, "a folder, not a file") from None
    except OSError as e:
        raise DamagedRun(run_id, path.name, f"cannot be read ({e.strerror or e})") from None
    if len(data) > cap:  # it grew while we read it
        raise DamagedRun(run_id, path.name, f"more than the {cap:,} bytes it may hold")
    return data


def read_json_file(run_id: str, path: Path, cap: int | None = None) -> Any:
    """Parse ``path`` as UTF-8 JSON of at most ``cap`` bytes (its own cap by name, else ``MAX_OTHER_JSON_BYTES``)."""
    cap = cap if cap is not None else MAX_BYTES.get(path.name, MAX_OTHER_JSON_BYTES)
    data = _read_capped(run_id, path, cap)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise DamagedRun(run_id, path.name, f"not UTF-8 text (byte {e.start})") from None
    except RecursionError:
        raise DamagedRun(run_id, path.name, "JSON nested too deeply") from None
    except ValueError as e:
        raise DamagedRun(run_id, path.name, f"not valid JSON ({e})") from None


# -- checks: each returns None when the value is fine, else why not ---------------------------------------------
Check = Callable[[Any], str | None]


def _show(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def integer(lo: int | None = None) -> Check:
    def check(x: Any) -> str | None:
        if not _is_int(x):
            return f"expected an integer, got {_show(x)}"
        return None if lo is None or x >= lo else f"expected an integer >= {lo}, got {x}"
    return check


def number(finite: bool = False) -> Check:
    def check(x: Any) -> str | None:
        if not _is_number(x):
            return f"expected a number, got {_show(x)}"
        return None if not finite or math.isfinite(x) else f"expected a finite number, got {x}"
    return check


def text(x: Any) -> str | None:
    return None if isinstance(x, str) else f"expected a string, got {_show(x)}"


def boolean(x: Any) -> str | None:
    return None if isinstance(x, bool) else f"expected true or false, got {_show(x)}"


def anything(x: Any) -> str | None:
    return None


def optional(check: Check) -> Check:
    return lambda x: None if x is None else check(x)


def one_of(*choices: str) -> Check:
    return lambda x: None if isinstance(x, str) and x in choices else f"expected one of {choices}, got {_show(x)}"


def list_of(item: Check) -> Check:
    def check(x: Any) -> str | None:
        if not isinstance(x, list):
            return f"expected a list, got {_show(x)}"
        for i, v in enumerate(x):
            why = item(v)
            if why:
                return f"item {i}: {why}"
        return None
    return check


def obj(fields: dict[str, Check], required: tuple[str, ...] = (), values: Check | None = None) -> Check:
    """A JSON object: ``required`` keys present, each known key checked; other keys checked by ``values`` if given."""
    def check(x: Any) -> str | None:
        if not isinstance(x, dict):
            return f"expected a JSON object, got {type(x).__name__}"
        missing = [k for k in required if k not in x]
        if missing:
            return f"missing {', '.join(missing)}"
        for k, v in x.items():
            c = fields.get(k, values)
            why = c(v) if c is not None else None
            if why:
                return f"{k}: {why}"
        return None
    return check


def _checked(run_id: str, name: str, value: Any, check: Check) -> Any:
    why = check(value)
    if why:
        raise DamagedRun(run_id, name, why)
    return value


# -- status.json --------------------------------------------------------------------------------------------------
COUNT = optional(integer(0))
PROCESS = optional(obj({"pid": integer(1), "start": optional(number(finite=True)), "host": text},
                       required=("pid", "host")))
PROGRESS = obj({"phase": optional(text), "ahead": COUNT, "epoch": COUNT, "epochs": COUNT, "step": COUNT,
                "batch": COUNT, "batches": COUNT, "done": COUNT, "total": COUNT, "class": COUNT, "restart": COUNT,
                "restarts": COUNT, "iteration": COUNT, "iterations": COUNT,
                "log_likelihood": optional(number())})
TIME = optional(number(finite=True))
STATUS = obj({"state": one_of(*STATES), "process": PROCESS, "heartbeat": TIME, "started": TIME, FINISHED: TIME,
              "queued_at": TIME, "resumed_at": TIME, "error": optional(text), "progress": PROGRESS,
              "imported": boolean, "track": optional(list_of(text))}, required=("state",))


def read_status(run_id: str, path: Path) -> dict[str, Any] | None:
    """``status.json`` validated; None when there is none (yet)."""
    if not path.exists():
        return None
    return _checked(run_id, path.name, read_json_file(run_id, path), STATUS)


# -- config.json --------------------------------------------------------------------------------------------------
CONFIG_META = obj({"kind": one_of(*JOB_CONFIGS), "label": optional(text), "created": optional(number(finite=True)),
                   "imported": boolean}, values=anything)


def _first(problems: list[str]) -> str:
    more = len(problems) - MAX_PROBLEMS_SHOWN
    return "; ".join(problems[:MAX_PROBLEMS_SHOWN]) + (f"; and {more} more" if more > 0 else "")


def config_problems(cls: type, d: Any, where: str = "", *, sections_required: bool = True) -> list[str]:
    """Every way ``d`` fails to be a ``cls`` config, each field checked on its own (``validate``'s messages).

    ``sections_required``: a sub-config (``model`` of a run config) must be present; a leaf field
    may be missing (its default applies, as :func:`core.config.config_from_dict` does).
    """
    if not isinstance(d, dict):
        return [f"{where.rstrip('.') or cls.__name__}: expected a JSON object, got {type(d).__name__}"]
    names = {f.name for f in dataclasses.fields(cls)}
    problems = [f"{where}{k}: unknown field" for k in d if k not in names]
    base = cls()
    for f in dataclasses.fields(cls):
        kind = split_optional(type_hints(cls)[f.name])[1]
        if f.name not in d:
            if sections_required and dataclasses.is_dataclass(kind):
                problems.append(f"{where}{f.name}: missing")
            continue
        value = d[f.name]
        if dataclasses.is_dataclass(kind):
            problems += config_problems(kind, value, f"{where}{f.name}.", sections_required=sections_required)
            continue
        if typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        probe = copy.copy(base)  # the defaults with this one field replaced: validate() judges the field alone
        object.__setattr__(probe, f.name, value)
        try:
            validate(probe)
        except (TypeError, ValueError) as e:  # "ModelConfig.dropout = 5: expected ...": it names the field
            problems.append(str(e))
    if not problems:  # each field is fine: what remains are checks across fields (__post_init__)
        try:
            config_from_dict(cls, d)
        except (TypeError, ValueError) as e:
            problems.append(str(e))
    return problems


def read_config(run_id: str, path: Path) -> tuple[dict[str, Any], Any]:
    """``config.json`` as stored (the first memory-horizon layout flattened) and its kind's validated config."""
    d = read_json_file(run_id, path)
    if isinstance(d, dict) and "memory_horizon" in d and d.get("kind") == "memory-horizon":  # the first layout
        inner = d.pop("memory_horizon")
        d = {**inner, **d} if isinstance(inner, dict) else {**d, "memory_horizon": inner}
    _checked(run_id, path.name, d, CONFIG_META)
    kind = d.get("kind", "rnn")
    problems = config_problems(JOB_CONFIGS[kind], {k: v for k, v in d.items() if k not in META_KEYS})
    if problems:
        raise DamagedRun(run_id, path.name, _first(problems))
    return d, config_from_dict(JOB_CONFIGS[kind], {k: v for k, v in d.items() if k not in META_KEYS})


def read_kind(run_id: str, path: Path) -> str:
    """The ``kind`` of ``config.json`` alone (the rest unchecked): enough to route a run to its job."""
    d = read_json_file(run_id, path)
    return _checked(run_id, path.name, d, CONFIG_META).get("kind", "rnn")


# -- test_metrics.json --------------------------------------------------------------------------------------------
METRIC = optional(number())  # NaN is a legitimate figure (a loss that diverged)


def confusion_matrix(x: Any) -> str | None:
    """A binary classifier's ``[[tn, fp], [fn, tp]]``, counts."""
    ok = isinstance(x, list) and len(x) == 2 and all(
        isinstance(row, list) and len(row) == 2 and all(_is_int(v) and v >= 0 for v in row) for row in x)
    return None if ok else f"expected [[tn, fp], [fn, tp]] of counts, got {_show(x)}"

TEST_METRICS = obj({
    **{k: METRIC for k in ("accuracy", "precision", "recall", "f1", "roc_auc", "loss", "mse", "train_time_s",
                           "train_samples_per_s", "inference_samples_per_s", "wall_time_s", "best_val_loss",
                           "fit_time_s", "fit_cpu_time_s", "val_threshold", "accuracy_at_val_threshold",
                           "f1_at_val_threshold", "pca_explained_variance")},
    **{k: COUNT for k in ("params_recurrent_pytorch", "params_recurrent_seed_formula", "params_total", "train_size",
                          "test_size", "n", "steps", "skipped_steps", "best_epoch", "torch_threads")},
    "success": optional(boolean), "stopped_early": optional(boolean), "device": optional(text),
    "epoch_times_s": optional(list_of(METRIC)),
    "confusion_matrix": optional(confusion_matrix),
    "roc": optional(obj({"fpr": list_of(number()), "tpr": list_of(number())}, required=("fpr", "tpr"))),
})


def read_test_metrics(run_id: str, path: Path) -> dict[str, Any] | None:
    """``test_metrics.json`` validated; None when the run has none (yet)."""
    if not path.exists():
        return None
    tm = _checked(run_id, path.name, read_json_file(run_id, path), TEST_METRICS)
    roc = tm.get("roc")
    if roc is not None and len(roc["fpr"]) != len(roc["tpr"]):
        raise DamagedRun(run_id, path.name, "roc: fpr and tpr differ in length")
    return tm


# -- metrics.jsonl ------------------------------------------------------------------------------------------------
RECORD = obj({
    "kind": text, **{k: COUNT for k in ("step", "epoch", "batch_size", "correct", "iteration", "class", "samples",
                                        "skipped_steps")},
    **{k: METRIC for k in ("loss", "grad_norm", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
                           "epoch_time_s", "samples_per_s", "log_likelihood", "log_likelihood_per_token")},
    "clipped": optional(boolean), "skipped": optional(boolean), "best": optional(boolean), "reason": optional(text),
    "norms": optional(obj({}, values=METRIC)), "wall_time": optional(number(finite=True)),
}, required=("kind",))


@dataclass
class MetricsRead:
    """What :func:`read_metrics` found: the good records, how many lines it skipped and why (the first few)."""

    records: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    reasons: list[str] = field(default_factory=list)
    unread_bytes: int = 0  # past MAX_METRICS_BYTES

    def skip(self, line_no: int, why: str) -> None:
        self.skipped += 1
        if len(self.reasons) < MAX_PROBLEMS_SHOWN:
            self.reasons.append(f"line {line_no}: {why}")


def metric_lines(path: Path, max_bytes: float = MAX_METRICS_BYTES) -> Iterator[tuple[bytes, dict[str, Any] | str]]:
    """Each line of a metrics log, raw, with its validated record or why it is not one.

    A line longer than ``MAX_METRICS_LINE_BYTES`` is never held in memory whole: it is skipped
    in chunks (and yielded as ``b""``). Reading stops after ``max_bytes``. A missing file has no lines.
    """
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, also when the caller stops early
    except FileNotFoundError:
        return
    with f:
        read = 0
        while read < max_bytes:
            line = f.readline(MAX_METRICS_LINE_BYTES + 1)
            if not line:
                return
            read += len(line)
            if len(line) > MAX_METRICS_LINE_BYTES:
                while line and not line.endswith(b"\n"):  # the rest of the long line, a chunk at a time
                    line = f.readline(MAX_METRICS_LINE_BYTES)
                    read += len(line)
                yield b"", f"longer than {MAX_METRICS_LINE_BYTES:,} bytes"
                continue
            yield line, _record(line)


def _record(line: bytes) -> dict[str, Any] | str:
    try:
        rec = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except RecursionError:
        return "nested too deeply"
    except ValueError:
        return "not JSON (torn by a crash?)"
    why = RECORD(rec)
    return why if why else rec


def read_metrics(run_id: str, path: Path, kind: str | None = None) -> MetricsRead:
    """The records of ``metrics.jsonl`` (of one ``kind`` if given); bad lines are counted and skipped.

    Never raises for a bad line; an unreadable file (permissions) is :class:`DamagedRun`.
    """
    out = MetricsRead()
    try:
        for i, (_, rec) in enumerate(metric_lines(path), start=1):
            if isinstance(rec, str):
                out.skip(i, rec)
            elif kind is None or rec.get("kind") == kind:
                out.records.append(rec)
        size = path.stat().st_size if path.exists() else 0
    except OSError as e:
        raise DamagedRun(run_id, path.name, f"cannot be read ({e.strerror or e})") from None
    out.unread_bytes = max(0, size - MAX_METRICS_BYTES)
    return out


# -- vocab.json ---------------------------------------------------------------------------------------------------
def read_vocabulary(run_id: str, path: Path) -> Vocabulary:
    """``vocab.json`` as a :class:`core.data.text.Vocabulary`, after checking its shape and size
    (:func:`core.data.text.vocabulary_problem`, where vocabularies are defined)."""
    d = read_json_file(run_id, path)
    _checked(run_id, path.name, d, vocabulary_problem)
    try:
        return Vocabulary.from_dict(d)
    except (KeyError, TypeError, ValueError) as e:  # what the checks above let through, should any
        raise DamagedRun(run_id, path.name, str(e)) from None


# -- the other JSON files of a run ---------------------------------------------------------------------------------
HORIZON_ROW = obj({"task": optional(text), "model": text, "seq_len": integer(1), "success": optional(boolean),
                   **{k: METRIC for k in ("test_metric", "final_loss", "final_train_loss", "train_time_s",
                                          "grad_ratio_first_step", "grad_ratio_first_step_init")},
                   "steps_to_success": COUNT, "steps": COUNT, "skipped_steps": COUNT, "history": optional(list_of(
                       obj({}, values=anything))), "gradients": optional(text)},
                 # what the Gradients page draws and tabulates
                 required=("model", "seq_len", "success", "test_metric", "steps", "grad_ratio_first_step"))
MAX_CLASSES = 1000  # core.data.sources.MAX_CLASSES


def class_names(x: Any) -> str | None:
    """``classes.json``: two or more distinct class names, in label order."""
    why = list_of(text)(x)
    if why:
        return why
    if not 2 <= len(x) <= MAX_CLASSES or len(set(x)) != len(x):
        return f"expected 2 to {MAX_CLASSES} distinct class names, got {len(x)}"
    return None


SCHEMAS: dict[str, Check] = {
    CLASSES_FILE: class_names,
    RESULTS_FILE: obj({"settings": obj({}, values=anything), "rows": list_of(HORIZON_ROW)},
                        required=("settings", "rows")),
    HMM_FILE: obj({"config": obj({}, values=anything), "pca": obj({}, values=anything),
                     "fits": obj({}, values=obj({"best_restart": COUNT, "fit_time_s": METRIC,
                                                "restarts": list_of(obj({}, values=anything))}))},
                    required=("config",)),
    WORD2VEC_FILE: obj({"loss_per_epoch": list_of(METRIC), "epoch_times_s": list_of(METRIC),
                          "train_time_s": METRIC, "vocab_size": COUNT, "corpus_tokens": COUNT, "sentences": COUNT,
                          "reviews_train": COUNT, "reviews_unsup": COUNT, "preprocess_time_s": METRIC}),
    EMBEDDINGS_FILE: obj({"found": COUNT, "missing": COUNT, "coverage": METRIC, "run_id": optional(text),
                            "frozen": optional(boolean)}),
    DATA_FILE: obj({"action": text, "path": text}, required=("path",)),
}


def read_run_json(run_id: str, path: Path) -> Any:
    """A JSON file of a run, checked against its schema when it has one here (any JSON value otherwise)."""
    if path.name == TEST_METRICS_FILE:
        tm = read_test_metrics(run_id, path)
        if tm is None:
            raise DamagedRun(run_id, path.name, "missing")
        return tm
    if path.name == STATUS_FILE:
        st = read_status(run_id, path)
        if st is None:
            raise DamagedRun(run_id, path.name, "missing")
        return st
    if path.name == CONFIG_FILE:
        return read_config(run_id, path)[0]
    if path.name == VOCAB_FILE:
        value = read_json_file(run_id, path)
        return _checked(run_id, path.name, value, vocabulary_problem)
    value = read_json_file(run_id, path)
    check = SCHEMAS.get(path.name)
    return _checked(run_id, path.name, value, check) if check else value


# -- annotations.json: what a user wrote about a run -----------------------------------------------------------
MAX_NAME_CHARS = 80
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True)
class Annotations:
    """A user's words about a run, kept beside its config (which is written once): a name, a note, hidden or not."""

    name: str = ""  # shown first in the run's label; "" = none
    note: str = ""  # free text, a few sentences
    hidden: bool = False  # left out of charts and lists unless asked for

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, "hidden": self.hidden}


def annotations_problem(d: Any) -> str | None:
    """Why ``d`` is not an annotations object (None when it is one): types, the name's and the note's length."""
    why = obj({"name": text, "note": text, "hidden": boolean})(d)
    if why:
        return why
    if len(d.get("name", "")) > MAX_NAME_CHARS:
        return f"name: {len(d['name']):,} characters, more than {MAX_NAME_CHARS}"
    if any(c in d.get("name", "") for c in "\n\r\t"):
        return "name: a line break or tab in a one-line name"
    if len(d.get("note", "")) > MAX_NOTE_CHARS:
        return f"note: {len(d['note']):,} characters, more than {MAX_NOTE_CHARS:,}"
    return None


def read_annotations(run_id: str, path: Path) -> tuple[Annotations, str | None]:
    """``annotations.json`` and a warning: no file is no annotations; a bad one is ignored, and the warning says why.

    Never raises: a bad note must never hide a run's results.
    """
    if not path.exists():
        return Annotations(), None
    try:
        d = read_json_file(run_id, path)
    except DamagedRun as e:
        return Annotations(), f"{e.file}: {e.reason}; its name and note are ignored"
    why = annotations_problem(d)
    if why:
        return Annotations(), f"{path.name}: {why}; its name and note are ignored"
    return Annotations(name=d.get("name", ""), note=d.get("note", ""), hidden=d.get("hidden", False)), None
