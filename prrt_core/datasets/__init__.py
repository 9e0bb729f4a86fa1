"""Synthetic data sets shipped with the product: the demo cohort."""
