"""Report: generate the seed comparison's report on the chosen dataset (`python -m core experiment seed`) and
download it."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/report.py`)
    sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from rnnlab.core.config import ExperimentConfig  # noqa: E402
from rnnlab.core.jobs.estimate import Estimate  # noqa: E402
from rnnlab.core.jobs.names import FINISHED  # noqa: E402
from rnnlab.core.report.experiment import experiment_seconds, report_folder  # noqa: E402
from rnnlab.dashboard import forms, state, widgets  # noqa: E402

JOB = "report.job"  # session key: the id of the experiment run launched from this page
POLL_S = 3.0
MAIN = ("preset", "limit", "epochs", "seeds", "horizon", "hmm", "ablations", "word2vec")  # up front; the rest: More


def report_dir(table: pd.DataFrame, dataset: str) -> Path | None:
    """The report of the newest finished experiment on ``dataset``, if any."""
    done = state.of_dataset(table[(table["kind"] == "experiment") & (table["status"] == FINISHED)], dataset)
    for run_id in done["run_id"]:
        try:
            return report_folder(state.store().get(run_id))
        except (OSError, ValueError, KeyError):
            continue
    return None


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                z.write(f, f"report/{f.name}")
    return buf.getvalue()


@st.cache_data(show_spinner=False, ttl=30, max_entries=32)
def experiment_estimate(cfg: ExperimentConfig, root: str) -> Estimate:
    """How long the experiment will take: its parts' measured rates, the runs it can reuse costing nothing."""
    return experiment_seconds(cfg, state.store())


LINK = re.compile(r"\[([^\]]+)\]\(([^)\s:]+)\)")  # [text](file): a relative link, no scheme


def without_file_links(block: str, folder: Path) -> str:
    """Markdown with links to the report's own files turned into plain names (in the app such a relative link
    would open a page of the app, not the file); the files are offered as downloads below the report."""
    return LINK.sub(lambda m: f"`{m.group(1)}`" if (folder / m.group(2)).is_file() else m.group(0), block)


st.title("Report")
table = state.summaries()
state.damaged_notice(table)
dataset = state.choose_dataset(table, key="report_dataset")
noun = state.dataset_noun(dataset)
st.caption(f"The seed report's comparison end to end, on {state.dataset_label(dataset)}: RNN, LSTM and GRU, the "
           "GMM-HMM baseline, gradient decay, the preprocessing, batching and word2vec ablations and the "
           "memory-horizon experiment, as Markdown with PNG figures and CSV tables. Finished runs with the same "
           "settings are reused.")

# live widgets, not inside the form: the estimate below follows them before anything is launched
fields = forms.config_fields(ExperimentConfig, forms.STARTING["report"], section="experiment",
                            skip=("imdb_path", "dataset"))
raw = widgets.draw_fields(fields, "report_", main=MAIN, labels={
    "limit": f"{noun} per split", "horizon": "memory-horizon experiment (adding problem)",
    "hmm": "GMM-HMM baseline", "ablations": "LSTM ablations: stop words, padding, word2vec initialisation",
    "word2vec": f"word2vec arm (vectors trained on the training and unlabelled {noun} first)"})
try:
    data = state.data_config(dataset)
    cfg = ExperimentConfig(**forms.parse_values(fields, raw), imdb_path=data.imdb_path, dataset=data.dataset)
except ValueError as e:
    cfg, problem = None, e
else:
    try:
        guess = experiment_estimate(cfg, str(state.store().root))
    except (OSError, ValueError) as e:  # settings the plan cannot be made from: the launch says why
        guess = Estimate(None, f"no estimate: {e}")
    st.caption(f"Expected time: **{guess.text()}**; {guess.basis}")
with st.form("experiment", border=False):
    go = st.form_submit_button("Generate the report", type="primary")
if go:
    if cfg is None:
        st.error(f"Not started: {problem}")
    else:
        state.launch_job(JOB, "experiment", cfg, label="experiment-seed")

state.follow_job(JOB, "experiment", "The seed comparison", poll_s=POLL_S)

folder = report_dir(table, dataset)
if folder is not None and (folder / "report.md").is_file():
    st.download_button("Download the report (zip)", zipped(folder), file_name="rnnlab-report.zip",
                       mime="application/zip", icon=":material/download:")
    text = (folder / "report.md").read_text(encoding="utf-8")
    for block in text.split("\n\n"):
        line = block.strip()
        if line.startswith("![") and "(" in line:
            img = folder / line[line.index("(") + 1:line.rindex(")")]
            if img.is_file():
                st.image(str(img))
            continue
        st.markdown(without_file_links(block, folder))
    st.subheader("The report's tables")
    row = st.container(horizontal=True, gap="small")
    for f in sorted(folder.glob("*.csv")):
        row.download_button(f.name, f.read_bytes(), file_name=f.name, mime="text/csv", key=f"report_file.{f.name}",
                            on_click="ignore", icon=":material/download:")
else:
    st.info(f"No report on {state.dataset_label(dataset)} yet: choose the settings above and generate one. It "
            "trains what is missing in its own "
            "process; this page shows its progress and the report when it is ready. The same report comes from "
            "`python -m core experiment seed`.", icon=":material/description:")
