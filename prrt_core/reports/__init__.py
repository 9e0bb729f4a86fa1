"""Printed documents built from views and charts: the tumour-board summary (``summary``)."""
