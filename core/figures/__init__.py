"""Figures: pure functions from data to a Plotly figure, drawn by the dashboard's pages and the seed report.

One module per topic: ``style`` (the shared look, colours and the CSV export of any figure), ``layout``
(how much room text takes, and where Plotly puts it: the arithmetic behind every margin),
``reviews``, ``training``, ``comparison``, ``gradients``, ``gates``, ``classification``, ``hmm``,
``embeddings`` and ``theory``; ``static`` says whether this machine can render static images (kaleido and
its Chrome) and, when it cannot, why in one line. Each builder takes plain data (numbers, numpy arrays, pandas
frames, dicts) and returns a ``plotly.graph_objects.Figure``; each is tested without Streamlit.

What it is not: Streamlit or anything of ``dashboard`` (the pages show these figures with their
PNG and CSV exports), reading runs or files, HTML text views (``dashboard.markup``). This file
imports nothing, so the rest of ``core`` stays importable where plotly is not installed.
"""
