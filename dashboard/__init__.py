"""The Streamlit dashboard: the app shell, its Streamlit-aware helpers and pure chart builders."""
