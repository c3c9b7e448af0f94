"""Report: generate the seed comparison's report (`python -m core experiment seed`) and download it."""

from __future__ import annotations

import io
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/report.py`)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.config import ExperimentConfig  # noqa: E402
from core.jobs.estimate import Estimate  # noqa: E402
from core.jobs.names import FINISHED  # noqa: E402
from core.report.experiment import experiment_seconds, report_folder  # noqa: E402
from dashboard import state  # noqa: E402

JOB = "report.job"  # session key: the id of the experiment run launched from this page
POLL_S = 3.0


def report_dir() -> Path | None:
    """The report of the newest finished experiment run, if any."""
    for run in state.store().list():
        try:
            if run.kind == "experiment" and run.status().get("state") == FINISHED:
                return report_folder(run)
        except (OSError, ValueError):
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
state.damaged_notice(state.summaries())
st.caption("The seed report's comparison end to end: RNN, LSTM and GRU, the GMM-HMM baseline, gradient decay, "
           "the preprocessing, batching and word2vec ablations and the memory-horizon experiment, as Markdown with PNG "
           "figures and CSV tables. Finished runs with the same settings are reused.")

# live widgets, not inside the form: the estimate below follows them before anything is launched
c1, c2, c3, c4 = st.columns(4)
preset_name = c1.selectbox("Preset", ["fast", "seed"], help="`seed`: fixed padding to 500 (slow on a CPU)")
limit = c2.number_input("Reviews per split (0 = all)", min_value=0, value=2000, step=500)
epochs = c3.number_input("Epochs", min_value=1, max_value=20, value=5)
seeds = c4.text_input("Seeds", value="0", help="comma-separated; mean and spread over seeds")
horizon = st.checkbox("Memory-horizon experiment (adding problem)", value=True)
hmm = st.checkbox("GMM-HMM baseline", value=True)
ablations = st.checkbox("LSTM ablations: stop words, padding, word2vec initialisation", value=True)
word2vec = st.checkbox("Word2vec arm (trains vectors on the training and unlabelled reviews first)", value=True)
try:
    cfg = ExperimentConfig(preset=preset_name, epochs=int(epochs), limit=int(limit) or None,
                           seeds=tuple(int(x) for x in seeds.replace(" ", "").split(",") if x),
                           horizon=horizon, hmm=hmm, ablations=ablations, word2vec=ablations and word2vec,
                           imdb_path=state.dataset_path())
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
        state.submit_job(JOB, "experiment", cfg, label="experiment-seed")

state.follow_job(JOB, "experiment", "The seed comparison", poll_s=POLL_S)

folder = report_dir()
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
    st.info("No report yet: choose the settings above and generate one. It trains what is missing in its own "
            "process; this page shows its progress and the report when it is ready. The same report comes from "
            "`python -m core experiment seed`.", icon=":material/description:")
