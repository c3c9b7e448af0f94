"""Where a training is tracked live: the ``--track`` targets, parsed and bounded. Standard library only.

A target is ``tensorboard:DIR`` (event files in ``DIR/RUN_ID``, as ``export --to tensorboard DIR`` writes them)
or ``mlflow:URI`` (a run in the tracking store at ``URI``: ``sqlite:///path/mlflow.db``, ``file:/path/mlruns``,
a folder, or an ``http(s)://`` server). :func:`parse_target` reads one (``ValueError``, one line, for anything
else), :func:`parse_targets` several (the CLI's repeated ``--track``, a sweep spec's ``track`` list, the Train
page's comma-separated field), each made absolute: a launched job runs in another folder than the command that
launched it, so a relative ``tensorboard:tb`` means the folder it meant where the command ran.

The targets are a launch option, not a hyperparameter: they are kept in the run's ``status.json`` (``track``,
written by :func:`core.jobs.lifecycle.create`), never in ``config.json``, so two runs of one configuration are the
same configuration whether tracked or not (a sweep or the seed experiment reuses a finished one either way).

What it is not: checking that a target can be written (its package installed, its folder writable, its server
answering: :func:`core.report.tracking.check_targets`) or writing to it (``core.report.tracking``). It imports
nothing beyond the standard library, so the CLI's parser and the sweep spec read it at no cost.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlparse

TRACKERS = ("tensorboard", "mlflow")
MAX_TARGETS = 4  # targets one run is tracked to (TensorBoard and MLflow at once, with room for a second store)
MAX_TARGET_CHARS = 1000  # a path or URI longer than this is a mistake, not a target
TARGET_SYNTAX = "tensorboard:DIR or mlflow:URI (sqlite:///path/mlflow.db, file:/path/mlruns, a folder, http://HOST:5000)"
MLFLOW_URI_SCHEMES = ("sqlite", "file", "http", "https")


@dataclass(frozen=True)
class TrackTarget:
    """One place a run is tracked to: ``tracker`` (tensorboard or mlflow) and ``where`` (a folder or a URI)."""

    tracker: str
    where: str

    def __str__(self) -> str:
        return f"{self.tracker}:{self.where}"


def parse_target(text: str, *, relative: bool = True) -> TrackTarget:
    """``tensorboard:DIR`` or ``mlflow:URI`` as a :class:`TrackTarget`, paths made absolute; ``ValueError`` (one line
    naming the target) for an unknown tracker, an empty or overlong target, control characters, a TensorBoard
    folder given as a URL, an MLflow URI of another scheme, or one that carries a password. ``relative=False``
    also refuses a relative path (text read again later, in another folder: a sweep spec's)."""
    if not isinstance(text, str):
        raise ValueError(f"a tracking target is text ({TARGET_SYNTAX}), not {type(text).__name__}")
    text = text.strip()
    shown = text if len(text) <= 80 else text[:77] + "..."
    if len(text) > MAX_TARGET_CHARS:
        raise ValueError(f"tracking target {shown!r}: {len(text):,} characters, more than {MAX_TARGET_CHARS:,}")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"tracking target {shown!r}: control characters (a line break?) are not allowed")
    tracker, sep, where = text.partition(":")
    if not sep or tracker not in TRACKERS:
        raise ValueError(f"unknown tracking target {shown!r}: expected {TARGET_SYNTAX}")
    where = where.strip()
    if not where:
        raise ValueError(f"tracking target {shown!r}: say where after '{tracker}:' ({TARGET_SYNTAX})")
    if tracker == "tensorboard":
        if "://" in where:
            raise ValueError(f"tracking target {shown!r}: TensorBoard writes to a local folder, not a URL")
        return TrackTarget(tracker, _absolute(where, shown, relative))
    return TrackTarget(tracker, _mlflow_uri(where, shown, relative))


def _absolute(path: str, shown: str, relative: bool) -> str:
    path = os.path.expanduser(path)
    if not relative and not os.path.isabs(path):
        raise ValueError(f"tracking target {shown!r}: give an absolute path (this text is read again in another "
                         f"folder, where a relative one would mean another place)")
    return os.path.abspath(path)


def _mlflow_uri(uri: str, shown: str, relative: bool) -> str:
    """An MLflow tracking URI with its local path made absolute; ``ValueError`` for what MLflow cannot use here."""
    scheme = urlparse(uri).scheme if "://" in uri or uri.startswith(("sqlite:", "file:")) else ""
    if not scheme:  # a folder: MLflow's file store
        return _absolute(uri, shown, relative)
    if scheme not in MLFLOW_URI_SCHEMES:
        raise ValueError(f"tracking target {shown!r}: an MLflow URI starts with sqlite:///, file:, http:// or "
                         f"https:// (or is a folder), not {scheme}:")
    if scheme == "sqlite":
        if not uri.startswith("sqlite:///"):
            raise ValueError(f"tracking target {shown!r}: an SQLite store is sqlite:///path/mlflow.db")
        path, _, query = uri.removeprefix("sqlite:///").partition("?")
        if path in ("", ":memory:"):
            raise ValueError(f"tracking target {shown!r}: an in-memory database would be lost with the job; "
                             f"name a file")
        return f"sqlite:///{_absolute(path, shown, relative)}" + (f"?{query}" if query else "")
    if scheme == "file":
        path = urlparse(uri).path
        if not path:
            raise ValueError(f"tracking target {shown!r}: name a folder (file:/path/mlruns)")
        return "file://" + _absolute(path, shown, relative)
    if urlparse(uri).password is not None:  # http(s)://user:password@host: kept in status.json, shown in lists
        raise ValueError(f"tracking target {shown!r}: a password in the URI would be kept beside the run; set "
                         f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead")
    if not urlparse(uri).hostname:
        raise ValueError(f"tracking target {shown!r}: an MLflow server's URI names its host (http://HOST:5000)")
    return uri


def parse_targets(texts: str | list[str] | tuple[str, ...] | None, *, relative: bool = True) -> tuple[TrackTarget, ...]:
    """Every target of ``texts`` (a list, or one text of targets separated by commas or line breaks), in order,
    once each; ``()`` for none. ``ValueError`` for a bad one (:func:`parse_target`) or more than
    :data:`MAX_TARGETS`."""
    if texts is None:
        return ()
    if isinstance(texts, str):
        texts = texts.replace("\n", ",").split(",")
    elif not isinstance(texts, list | tuple):
        raise ValueError(f"tracking targets are a list of texts ({TARGET_SYNTAX}), not {type(texts).__name__}")
    parts = [t for t in texts if not isinstance(t, str) or t.strip()]
    if len(parts) > MAX_TARGETS:
        raise ValueError(f"{len(parts)} tracking targets; at most {MAX_TARGETS}")
    return tuple(dict.fromkeys(parse_target(t, relative=relative) for t in parts))


def stored_targets(status: dict) -> tuple[TrackTarget, ...]:
    """The targets a run's ``status.json`` keeps (``track``); ``ValueError`` when they are not targets any more
    (a file edited by hand)."""
    return parse_targets(status.get("track"))
