"""Salvage PRRT Board: ``streamlit run app.py``. Navigation, sidebar, then the chosen page."""

import streamlit as st

from pages import common, identity

st.set_page_config(page_title="Salvage PRRT Board", page_icon=":material/radiology:",
                   layout="wide")

navigation = st.navigation([st.Page(path, title=title, icon=icon, default=(i == 0))
                            for i, (path, title, icon) in enumerate(common.PAGES)])
actor = identity.current_actor()
path = common.prepare_store(common.db_path())
with st.sidebar:
    st.caption(f"Database: `{path}`")
    identity.identity_sidebar(actor)
identity.require_sign_in(actor)  # no page, and no patient data, without a role
with common.through_app():
    navigation.run()
