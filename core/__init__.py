"""RNN Lab core: data, text pipeline, models, training and analysis of recurrent networks.

Nothing in this package imports Streamlit or the dashboard; the dashboard imports it.
"""

__version__ = "0.1.0"
