"""The tumour-board summary as PDF: the same HTML and print CSS as the HTML summary, laid out by WeasyPrint.

Why WeasyPrint (PyPI, BSD, maintained since 2011): it lays out HTML with CSS Paged Media (``@page``,
page counters, break rules) and draws inline SVG itself, so the PDF is the HTML file as it prints;
it needs only Debian's Pango libraries (``libpango-1.0-0``, ``libpangoft2-1.0-0``) and fonts, no
browser; and its URL-fetcher hook lets every reference be refused. Chromium's print-to-PDF would
tie the app server to a browser binary at run time (sandbox flags, a process to manage, a
version to keep in step), which only the browser tests need.

WeasyPrint runs in a child process (``pdf_worker``): a time bound (``RENDER_TIMEOUT_S``) that
kills a hung layout, native-library faults that cannot take the app down, and a clear
``ReportError`` when WeasyPrint or its system libraries are missing (``check_engine``).
No URL is fetched: the HTML is self-contained, and the worker refuses every URL.
"""
from __future__ import annotations

import functools
import logging
import subprocess
import sys
from pathlib import Path

from prrt_core.errors import ReportError
from prrt_core.reports import pdf_worker, summary
from prrt_core.tables import Tables

logger = logging.getLogger(__name__)

# A two-page summary takes about 1-3 s; the bound leaves room for a loaded machine and stops a
# layout that never ends (a planning choice, not a published figure).
RENDER_TIMEOUT_S = 60.0
CHECK_TIMEOUT_S = 30.0
WORKER = Path(pdf_worker.__file__)
INSTALL_HINT = ("install the Python package weasyprint (requirements.txt) and the Debian packages "
                "libpango-1.0-0 and libpangoft2-1.0-0 (tests/system-packages.sh)")


def _run(args: list[str], stdin: bytes, timeout_s: float, python: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([python, "-I", str(WORKER), *args], input=stdin, capture_output=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ReportError(f"PDF: the layout took longer than {timeout_s:g} s and was stopped; "
                          "download the HTML summary and print it instead") from None
    except OSError as exc:
        raise ReportError(f"PDF: the renderer could not be started ({exc.strerror})") from None


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "no message"


def _missing(stderr: bytes) -> str:
    return f"PDF is not available: WeasyPrint cannot be loaded ({_last_line(stderr)}); {INSTALL_HINT}"


@functools.cache
def _engine_problem(python: str) -> str | None:
    try:
        done = _run(["--check"], b"", CHECK_TIMEOUT_S, python)
    except ReportError as exc:  # the check itself could not run (no interpreter, too slow): cached too
        return str(exc)
    if done.returncode == 0:
        return None
    return _missing(done.stderr)


def engine_problem(python: str = sys.executable) -> str | None:
    """Why no PDF can be made (what to install), or None when WeasyPrint and its system libraries
    load in ``python``; checked once per interpreter and process (a page shows it beside a
    disabled button)."""
    return _engine_problem(python)


def check_engine(python: str = sys.executable) -> None:
    """``ReportError`` with :func:`engine_problem`'s message when no PDF can be made."""
    problem = engine_problem(python)
    if problem is not None:
        raise ReportError(problem)


def html_to_pdf(html: str, *, timeout_s: float = RENDER_TIMEOUT_S, python: str = sys.executable) -> bytes:
    """The PDF (bytes) of a self-contained HTML document, printed with its print CSS; no URL is fetched.

    ``ReportError`` when the engine is missing, the layout fails or takes longer than ``timeout_s``.
    """
    done = _run([], html.encode("utf-8"), timeout_s, python)
    if done.returncode == pdf_worker.ENGINE_MISSING:
        raise ReportError(_missing(done.stderr))
    if done.returncode != 0 or not done.stdout.startswith(b"%PDF-"):
        raise ReportError(f"PDF: the layout failed ({_last_line(done.stderr)}); "
                          "download the HTML summary and print it instead")
    refused = _last_line(done.stderr).removeprefix("refused_urls=")
    if refused != "0":
        logger.warning("PDF summary: %s reference(s) to URLs refused (the summary is self-contained)", refused)
    return done.stdout


def render_pdf(tables: Tables, request: summary.SummaryRequest, *, timeout_s: float = RENDER_TIMEOUT_S) -> bytes:
    """The tumour-board summary of ``request`` as PDF: :func:`summary.render_html` printed (A4, at most
    two pages for a typical patient). ``ReportError`` as :func:`html_to_pdf`."""
    return html_to_pdf(summary.render_html(tables, request), timeout_s=timeout_s)
