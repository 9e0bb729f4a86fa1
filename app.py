"""Salvage PRRT Board (served by ``streamlit run serve.py``): navigation, sidebar, gates, then the chosen page."""

import streamlit as st

from ui import database, identity, media_gate, navigation, network
from ui.text import md

# The icon is a file of the app: a ":material/...:" or emoji page icon makes the browser fetch the
# favicon from an internet host (fonts.gstatic.com), which a hospital network without internet refuses.
st.set_page_config(page_title="Salvage PRRT Board", page_icon=str(navigation.PAGE_ICON), layout="wide")

chosen = st.navigation([st.Page(path, title=title, icon=icon, default=(i == 0))
                        for i, (path, title, icon) in enumerate(navigation.PAGES)])
actor = identity.current_actor()
network.gate(actor)  # single-user mode serves this computer only (docs/deploy.md)
with st.sidebar:
    identity.identity_sidebar(actor)
    identity.watch_sign_in(actor)  # an ended sign-in clears the screen without a click
media_gate.require_gate()  # with sign-in, only behind serve.py's gate for downloads
identity.require_sign_in(actor)  # no page, no patient data and no database opened without a role
path = database.prepare_store(database.db_path())
if actor.can_write:  # where the record lives: editors only
    st.sidebar.caption(f"Database: {md(path)}")
with navigation.through_app():
    chosen.run()
