"""Salvage PRRT Board server: ``streamlit run serve.py`` serves app.py behind the media gate.

Streamlit serves downloads under ``/media/`` without looking at the sign-in;
``ui.media_gate.SignedInMedia`` refuses them to a visitor without a valid sign-in when sign-in
is configured (docs/architecture.md, "Sign-in"). app.py refuses to serve pages over HTTP with
sign-in configured unless it runs behind this.
"""

from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from ui.media_gate import SignedInMedia

# Beside this file whatever the working directory (uvicorn resolves a relative path against it).
app = st.App(Path(__file__).with_name("app.py"), middleware=[Middleware(SignedInMedia)])
