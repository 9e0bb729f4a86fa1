"""The child process of ``reports.pdf``: HTML on standard input, the PDF on standard output.

Started by ``reports.pdf`` as ``python -I pdf_worker.py`` (isolated mode: neither the script's
folder nor PYTHON* variables on the path), so it imports WeasyPrint and nothing of prrt_core.
Every URL the document names is refused (``RefuseAll``): the summary is self-contained, and a
reference smuggled into it must not reach the network or the file system. With ``--check`` it
only loads WeasyPrint and its system libraries (Pango, HarfBuzz, fontconfig).

Exit codes: 0 done; ENGINE_MISSING when WeasyPrint or a system library cannot be loaded;
RENDER_FAILED when the document cannot be laid out. The reason is the last line on stderr;
after a PDF, stderr's last line is ``refused_urls=N``.
"""
from __future__ import annotations

import logging
import sys

ENGINE_MISSING = 3
RENDER_FAILED = 4


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, format="%(name)s: %(message)s")
    try:
        import weasyprint
        from weasyprint.urls import URLFetcher
    except (ImportError, OSError) as exc:  # OSError: cffi could not dlopen Pango and friends
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return ENGINE_MISSING
    if "--check" in argv:
        return 0

    class RefuseAll(URLFetcher):
        """A URL fetcher that fetches nothing and counts what it refused."""

        refused = 0

        def fetch(self, url, headers=None):
            RefuseAll.refused += 1
            raise ValueError("the tumour-board summary is self-contained: no URL is fetched")

    html = sys.stdin.buffer.read().decode("utf-8")
    try:
        pdf = weasyprint.HTML(string=html, url_fetcher=RefuseAll()).write_pdf()
    except Exception as exc:  # any layout failure: reported to the parent by the exit code
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        return RENDER_FAILED
    sys.stdout.buffer.write(pdf)
    sys.stdout.buffer.flush()
    sys.stderr.write(f"refused_urls={RefuseAll.refused}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
