"""Streamlit-side helpers shared by app.py and the pages; not pages themselves (see docs/architecture.md)."""
