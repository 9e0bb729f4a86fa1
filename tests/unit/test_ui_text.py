"""ui.text.md: text from outside shows as typed in Streamlit's markdown, never as a link, image, HTML,
icon, colour, LaTeX or block structure.

Streamlit renders markdown with remark-gfm, whose bare-URL autolinks are found in the text after
escapes are resolved; the patterns below are those of mdast-util-gfm-autolink-literal
(tests/browser/test_network.py checks the rendering in Chromium)."""

from __future__ import annotations

import re

import pytest

from ui.text import WORD_JOINER, md

# Every ASCII punctuation character CommonMark lets a backslash escape.
ASCII_PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
# The characters that can start or end markup in CommonMark, GFM or Streamlit's extensions.
ACTIVE = "\\`*_{}[]()<>#+-.!|~:$&\"'="

HOSTILE = [
    "[click](https://evil.example)",                # inline link
    "![x](https://evil.example/p.png)",             # image (a request to another site on display)
    "<https://evil.example>",                       # autolink
    "https://evil.example/a_b",                     # GFM bare-URL autolink
    "www.evil.example",                             # GFM www autolink
    "[click][1]\n\n[1]: https://evil.example",      # reference link with its definition
    "<img src=x onerror=alert(1)>",                 # raw HTML
    ":material/warning: :red[urgent] :smile:",      # Streamlit icons, colours, emoji shortcodes
    "$\\frac{1}{0}$",                               # LaTeX
    "# heading\n- item\n> quote\n1. one",           # block structure
    "**bold** _em_ ~~del~~ `code`",                 # inline formatting
    "&lt;script&gt; &#x5B;",                        # entities
    "a | b\n---|---\nc | d",                        # a table
    "back\\slash\\",                                # a trailing backslash would escape what follows
]


# mdast-util-gfm-autolink-literal: the URL and e-mail patterns it looks for in a text node's value.
GFM_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE)
GFM_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)")


def shown(text: str) -> str:
    """The text node CommonMark makes of backslash-escaped text: each escaped punctuation character itself."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def unescape(text: str) -> str:
    """What a reader sees: the text node without the invisible word joiners."""
    return shown(text).replace(WORD_JOINER, "")


def unescaped_active(text: str) -> list[str]:
    """Markdown-active characters of ``text`` that no backslash escapes."""
    found, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in ASCII_PUNCTUATION:
            i += 2
            continue
        if text[i] in ACTIVE:
            found.append(text[i])
        i += 1
    return found


@pytest.mark.parametrize("value", HOSTILE)
def test_every_active_character_is_escaped_and_the_text_shows_as_typed(value):
    escaped = md(value)
    assert unescaped_active(escaped) == [], escaped
    assert unescape(escaped) == value.replace("\r", " ").replace("\n", " ")
    assert "\n" not in escaped and "\r" not in escaped  # one line: no block can start


def test_a_link_becomes_plain_text():
    assert md("[click](https://evil.example).csv") == (r"\[click\]\(https\:" + WORD_JOINER
                                                       + r"//evil\.example\)\.csv")
    assert not re.search(r"(?<!\\)\]\(", md("[a](b)"))


@pytest.mark.parametrize("value", ["[click](https://evil.example)", "see https://evil.example/a?b=1 now",
                                   "HTTP://EVIL.EXAMPLE", "(www.evil.example)", "_www.evil.example", "<https://x.y>"])
def test_bare_urls_do_not_become_links_after_escapes_are_resolved(value):
    assert GFM_URL.search(value)  # what remark-gfm would link
    assert not GFM_URL.search(shown(md(value)))
    assert unescape(md(value)) == value


def test_e_mail_addresses_do_not_become_links():
    assert not GFM_EMAIL.search(shown(md("x@evil.example")))


def test_harmless_text_is_unchanged():
    for value in ("NET 004", "Kidney left", "Dr V", "7400 MBq at 10 h", "α/β 2,6 Gy", "Müller"):
        assert md(value) == value


def test_any_value_is_text():
    assert md(None) == "None"
    assert md(3.5) == r"3\.5"
    assert md(ValueError("patients.csv: row 2")) == r"patients\.csv\: row 2"
    assert md("line one\r\nline two") == "line one  line two"
