"""The ``data`` kind of job: download the official IMDB archive, or install one into the cache.

The work is :mod:`core.data.imdb`'s (:func:`~core.data.imdb.download_imdb`,
:func:`~core.data.imdb.install_archive`); this module runs it as a run: progress in its status, the
installed path in ``data.json``.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.core.config import DataJobConfig
from rnnlab.core.data import imdb
from rnnlab.core.jobs.lifecycle import JobContext
from rnnlab.core.jobs.names import DATA_FILE


def data_job(ctx: JobContext, cfg: DataJobConfig) -> None:
    """Download the official archive or install one into the cache (the ``data`` kind of job).

    Progress (bytes, or the phase of the validation) goes to the run's status; the installed path to
    ``data.json``. A staged upload (``cfg.move``) is removed whatever happens, so nothing is left behind.
    """
    try:
        if cfg.action == "download":
            path = imdb.download_imdb(
                progress=lambda done, total: ctx.progress(phase="downloading", done=done, total=total))
        else:
            if not cfg.archive:
                raise ValueError("install needs the archive to install")
            path = imdb.install_archive(cfg.archive, move=cfg.move, progress=lambda phase: ctx.progress(phase=phase))
    finally:
        if cfg.move and cfg.archive:
            Path(cfg.archive).unlink(missing_ok=True)
    ctx.run.write_json(DATA_FILE, {"action": cfg.action, "path": str(path)})
    ctx.say(f"{'installed' if cfg.action == 'install' else 'downloaded'} to {path}")
