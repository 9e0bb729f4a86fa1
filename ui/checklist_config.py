"""The eligibility configuration in force (``data/eligibility.toml``), read once per change of the
file, and the kidney model settings the pages start from (its limits)."""
from __future__ import annotations

import streamlit as st

from prrt_core.clinical import eligibility
from prrt_core.projection import KidneyModelSettings


@st.cache_data(show_spinner=False, max_entries=4)
def _config(mtime_ns: int) -> eligibility.Config:
    return eligibility.load_config()


def config() -> eligibility.Config:
    """The checklist configuration; a ConfigError (shown by the page) names a bad file entry."""
    return _config(eligibility.DEFAULT_CONFIG_PATH.stat().st_mtime_ns)


def settings() -> KidneyModelSettings:
    """Default model settings with the configured kidney limits (``eligibility.default_settings``)."""
    return eligibility.default_settings(config())
