"""The download gate's "installed" mark (ui/media_gate.py): set by building the middleware, kept
when Streamlit re-imports a changed module of the app, and only for this process."""

from __future__ import annotations

import importlib
import os

from ui import media_gate


def test_the_mark_survives_a_reimport_and_is_not_inherited(monkeypatch):
    monkeypatch.delenv(media_gate.INSTALLED_ENV, raising=False)
    assert not media_gate.installed()
    media_gate.SignedInMedia(app=None)
    assert media_gate.installed()
    reloaded = importlib.reload(media_gate)  # what Streamlit's watcher does to a changed module
    assert reloaded.installed()
    monkeypatch.setenv(media_gate.INSTALLED_ENV, str(os.getpid() + 1))  # a parent's mark, inherited
    assert not media_gate.installed()
