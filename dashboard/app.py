"""RNN Lab's Streamlit entrypoint: page config and navigation over the page scripts in ../pages.

An installed copy (``pip install .``) holds the page scripts in dashboard/shipped/pages instead: they are
read from there when that folder exists (see pyproject.toml), and from ../pages in a checkout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent  # the checkout, or site-packages/rnnlab in an installed copy
# `streamlit run dashboard/app.py` puts only dashboard/ on the path: a checkout adds its root, where rnnlab/ is;
# an installed copy finds rnnlab in site-packages and adds nothing (its folder would make core importable alone)
if (ROOT / "rnnlab" / "__init__.py").is_file() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHIPPED = Path(__file__).resolve().parent / "shipped" / "pages"  # only in an installed copy
PAGES_DIR = SHIPPED if SHIPPED.is_dir() else ROOT / "pages"

st.set_page_config(page_title="RNN Lab", page_icon="🔁", layout="wide")

PAGES = [  # (file in PAGES_DIR, title, icon); a page appears once its script exists
    ("overview.py", "Overview", ":material/home:"),
    ("data.py", "Data", ":material/table:"),
    ("train.py", "Train", ":material/model_training:"),
    ("compare.py", "Compare", ":material/compare:"),
    ("sweep.py", "Sweep", ":material/grid_view:"),
    ("runs.py", "Runs", ":material/list:"),
    ("gradients.py", "Gradients", ":material/trending_down:"),
    ("gates.py", "Gates", ":material/grid_on:"),
    ("classify.py", "Classify", ":material/rate_review:"),
    ("hmm.py", "HMM", ":material/hub:"),
    ("embeddings.py", "Embeddings", ":material/scatter_plot:"),
    ("theory.py", "Theory", ":material/functions:"),
    ("report.py", "Report", ":material/description:"),
]

pages = [st.Page(PAGES_DIR / f, title=t, icon=i, default=(f == "overview.py"))
         for f, t, i in PAGES if (PAGES_DIR / f).is_file()]
st.navigation(pages).run()
