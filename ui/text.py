"""Text from outside (sign-in claims, file names, cell values, messages that quote them) made safe
for Streamlit's markdown: every markdown-active character is escaped, so ``[x](https://…)`` shows
as typed and never becomes a link, image or HTML.

Use ``md(value)`` on every external string that reaches ``st.markdown``, ``st.caption``,
``st.error``/``warning``/``info``/``success``, widget labels and help texts.
"""
from __future__ import annotations

import re

# CommonMark's ASCII punctuation that can start or end markup, plus '<' and '>' (HTML) and '|'
# (tables); Streamlit also renders ':material/...:' icons and '$...$' LaTeX, so ':' and '$' too.
_ACTIVE = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&\"'=])")


def md(value: object) -> str:
    """``str(value)`` with every markdown-active character backslash-escaped and line breaks kept as text."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _ACTIVE.sub(r"\\\1", text)
