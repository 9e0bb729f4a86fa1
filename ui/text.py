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
# GFM's bare-URL autolinks are found in the text *after* escapes are resolved (remark-gfm,
# mdast-util-gfm-autolink-literal): "https\://evil\.example" still renders as a link. A WORD JOINER
# (U+2060: no width, invisible) between the scheme and "//", and between "www" and ".", breaks
# the pattern; one after "@" keeps an e-mail address from becoming a mailto: link.
WORD_JOINER = "\u2060"
_BARE_URL = re.compile(r"(?i)(https?:(?=//)|www(?=\.)|@)")


def md(value: object) -> str:
    """``str(value)`` with every markdown-active character backslash-escaped, line breaks kept as text,
    and bare URLs (``https://…``, ``www.…``, ``a@b.c``) broken by an invisible word joiner so none becomes a link."""
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _ACTIVE.sub(r"\\\1", _BARE_URL.sub(r"\1" + WORD_JOINER, text))
