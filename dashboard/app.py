"""RNN Lab's Streamlit entrypoint: page config and navigation over the page scripts in ../pages."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, str(ROOT))

st.set_page_config(page_title="RNN Lab", page_icon="🔁", layout="wide")

PAGES = [  # (file in ../pages, title, icon); a page appears once its script exists
    ("overview.py", "Overview", ":material/home:"),
    ("data.py", "Data", ":material/table:"),
    ("train.py", "Train", ":material/model_training:"),
    ("compare.py", "Compare", ":material/compare:"),
    ("gradients.py", "Gradients", ":material/trending_down:"),
    ("gates.py", "Gates", ":material/grid_on:"),
    ("classify.py", "Classify", ":material/rate_review:"),
    ("hmm.py", "HMM", ":material/hub:"),
    ("embeddings.py", "Embeddings", ":material/scatter_plot:"),
    ("theory.py", "Theory", ":material/functions:"),
    ("report.py", "Report", ":material/description:"),
]

pages = [st.Page(ROOT / "pages" / f, title=t, icon=i, default=(f == "overview.py"))
         for f, t, i in PAGES if (ROOT / "pages" / f).is_file()]
st.navigation(pages).run()
