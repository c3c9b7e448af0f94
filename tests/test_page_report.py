"""The Report page: links to the report's own files become names plus downloads (never a link into the app)."""

from __future__ import annotations

from test_pages_inside import experiment_run, ok, open_report

from rnnlab.core.jobs.store import RunStore
from rnnlab.core.report.experiment import report_folder


def test_links_to_the_reports_files_become_downloads_and_other_links_stay(rnnlab_home):
    run = experiment_run(RunStore(rnnlab_home / "runs"), "finished",
                         "# Report\n\nEvery run: [runs.csv](runs.csv). Missing: [gone.csv](gone.csv). "
                         "Paper: [Maas et al.](https://ai.stanford.edu/~amaas/data/sentiment/)\n")
    (report_folder(run) / "runs.csv").write_text("run,accuracy\na,0.5\n")
    at = ok(open_report())
    body = " ".join(m.value for m in at.markdown)
    assert "Every run: `runs.csv`." in body and "](runs.csv)" not in body
    assert "[gone.csv](gone.csv)" in body  # not one of the report's files: left as written
    assert "[Maas et al.](https://ai.stanford.edu/~amaas/data/sentiment/)" in body
    names = [b.proto.label for b in at.get("download_button")]
    assert "runs.csv" in names and "gone.csv" not in names
