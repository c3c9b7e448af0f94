"""Report: generate the seed comparison's report (`python -m core experiment seed`) and download it."""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # standalone runs (AppTest, `streamlit run pages/report.py`)
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from core.paths import rnnlab_home  # noqa: E402
from dashboard import state  # noqa: E402

JOB = "report.job"
POLL_S = 3.0


def report_dir() -> Path:
    return rnnlab_home() / "report"


def zipped(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                z.write(f, f"report/{f.name}")
    return buf.getvalue()


st.title("Report")
st.caption("The seed report's comparison end to end: RNN, LSTM and GRU, the GMM-HMM baseline, gradient decay, "
           "the preprocessing, batching and word2vec ablations and the memory-horizon experiment, as Markdown with PNG "
           "figures and CSV tables. Finished runs with the same settings are reused.")

with st.form("experiment"):
    c1, c2, c3, c4 = st.columns(4)
    preset_name = c1.selectbox("Preset", ["fast", "seed"], help="`seed`: fixed padding to 500 (slow on a CPU)")
    limit = c2.number_input("Reviews per split (0 = all)", min_value=0, value=2000, step=500)
    epochs = c3.number_input("Epochs", min_value=1, max_value=20, value=5)
    seeds = c4.text_input("Seeds", value="0", help="comma-separated; mean and spread over seeds")
    horizon = st.checkbox("Memory-horizon experiment (adding problem)", value=True)
    hmm = st.checkbox("GMM-HMM baseline", value=True)
    ablations = st.checkbox("LSTM ablations: stop words, padding, word2vec initialisation", value=True)
    word2vec = st.checkbox("Word2vec arm (trains vectors on the training and unlabelled reviews first)", value=True,
                           help="skip-gram takes about 14 minutes on the full data on a 2-core CPU")
    go = st.form_submit_button("Generate the report", type="primary")
if go:
    args = ["experiment", "seed", "--preset", preset_name, "--epochs", str(int(epochs)), "--seeds", seeds,
            "--out", str(report_dir())]
    if limit:
        args += ["--limit", str(int(limit))]
    if not horizon:
        args.append("--no-horizon")
    if not hmm:
        args.append("--no-hmm")
    if not ablations:
        args.append("--no-ablations")
    elif not word2vec:
        args.append("--no-word2vec")
    if state.dataset_path():
        args += ["--imdb", state.dataset_path()]
    state.start_cli_job(JOB, "experiment", args)


@st.fragment(run_every=POLL_S)
def progress() -> None:
    state.cli_job_panel(JOB, "Generating the report", "The report was generated in {elapsed:.0f} s.",
                        "The experiment stopped", show_last_line=True)


progress()

folder = report_dir()
if (folder / "report.md").is_file():
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
        st.markdown(block)
else:
    st.info("No report yet: choose the settings above and generate one. It trains what is missing in its own "
            "process; this page shows its progress and the report when it is ready. The same report comes from "
            "`python -m core experiment seed`.", icon=":material/description:")
