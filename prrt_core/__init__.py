"""Salvage PRRT Board domain library: store, demo cohort, dosimetry, clinical rules.

Pure Python over numpy/pandas; never imports streamlit (DESIGN.md §2).
"""
