"""Salvage PRRT Board: ``streamlit run app.py``. Navigation, sidebar, then the chosen page."""

import streamlit as st

from ui import database, identity, navigation

st.set_page_config(page_title="Salvage PRRT Board", page_icon=":material/radiology:",
                   layout="wide")

chosen = st.navigation([st.Page(path, title=title, icon=icon, default=(i == 0))
                        for i, (path, title, icon) in enumerate(navigation.PAGES)])
actor = identity.current_actor()
path = database.prepare_store(database.db_path())
with st.sidebar:
    st.caption(f"Database: `{path}`")
    identity.identity_sidebar(actor)
identity.require_sign_in(actor)  # no page, and no patient data, without a role
with navigation.through_app():
    chosen.run()
