"""Altair charts (functions returning alt.Chart) for the patient, cohort and dosimetry views, and
their static export (SVG/PNG)."""
