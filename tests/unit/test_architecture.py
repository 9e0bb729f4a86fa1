"""The layers of docs/architecture.md, kept by a test over the import statements (ast).

Each prrt_core subpackage may import only the subpackages below it; nothing in prrt_core
imports streamlit, ui or pages; pages and ui are the only Streamlit code. A new violation
fails here with the file, line and import named.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from prrt_core import errors
from tests.support import REPO

CORE = REPO / "prrt_core"
# Subpackage (or top-level module) of prrt_core -> what it may import from prrt_core.
# Top of the file = bottom of the stack. docs/architecture.md draws the same table.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "paths": set(),
    "archives": {"errors"},
    "tables": {"errors"},
    "decisions": {"errors"},
    "store": {"errors", "paths", "tables", "archives", "decisions"},
    "dosimetry": {"errors", "paths"},
    "projection": {"dosimetry", "errors", "tables"},
    "clinical": {"dosimetry", "projection", "errors", "paths", "tables"},
    "dicom": {"dosimetry", "errors", "archives"},
    "testing": {"dicom", "dosimetry", "errors"},
    "importer": {"store", "tables", "errors", "dicom", "dosimetry", "archives"},
    "cohort": {"clinical", "dosimetry", "projection", "tables", "errors"},
    "datasets": {"store", "clinical", "dosimetry", "tables", "decisions", "paths", "errors"},
    "views": {"clinical", "cohort", "dosimetry", "projection", "dicom", "tables", "decisions", "errors"},
    "charts": {"views", "cohort", "clinical", "dosimetry", "dicom", "tables", "errors"},
    "reports": {"views", "charts", "clinical", "projection", "dosimetry", "tables", "decisions", "errors"},
    "cli": {"store", "importer", "datasets", "projection", "dosimetry", "dicom", "clinical", "cohort", "views",
            "testing", "tables", "decisions", "errors", "paths"},
}
# The package's front door re-exports the public API (docs/architecture.md, "Public API").
FRONT_DOOR = {"__init__": {"dosimetry", "projection", "clinical"}, "__main__": {"cli"}}
STREAMLIT_SIDE = ("streamlit", "ui", "pages")


def imports(source: str, module_path: Path) -> list[tuple[int, str]]:
    """(line, dotted name) of every import in ``source``, read as the repository file ``module_path``.

    ``from a.b import c`` gives ``a.b.c`` (c may be a submodule); relative imports are resolved.
    """
    package = module_path.relative_to(REPO).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(source, str(module_path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def layer_of(path: Path) -> str:
    """The layer of a prrt_core file: its subpackage, or the top-level module's name."""
    return path.relative_to(CORE).with_suffix("").parts[0]


def violations(path: Path, source: str | None = None) -> list[str]:
    """Imports of the prrt_core file ``path`` that its layer may not make, as 'file:line: module (why)'."""
    layer = layer_of(path)
    allowed = ALLOWED.get(layer, FRONT_DOOR.get(layer, set())) | {layer}
    out = []
    for line, module in imports(path.read_text() if source is None else source, path):
        parts = module.split(".")
        where = f"{path.relative_to(REPO)}:{line}: {module}"
        if parts[0] in STREAMLIT_SIDE:
            out.append(where + " (prrt_core never imports Streamlit-side code)")
        elif parts[0] == "prrt_core" and len(parts) > 1 and parts[1] not in allowed:
            out.append(where + f" ({layer} may import only {sorted(allowed - {layer})})")
    return out


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_every_core_module_belongs_to_a_known_layer():
    unknown = {layer_of(p) for p in core_files()} - set(ALLOWED) - set(FRONT_DOOR)
    assert not unknown, f"add {sorted(unknown)} to ALLOWED here and to docs/architecture.md"


def test_layers_point_down_only():
    found = [v for path in core_files() for v in violations(path)]
    assert not found, "\n".join(found)


def test_pages_and_ui_are_the_only_streamlit_code_and_no_page_imports_a_page():
    for folder in ("ui", "pages"):
        for path in sorted((REPO / folder).glob("*.py")):
            found = [m for _, m in imports(path.read_text(), path) if m.split(".")[0] == "pages"]
            assert not found, f"{path}: {found} (a page is reached through st.navigation, never imported)"


@pytest.mark.parametrize("layer, source, expected", [
    ("dosimetry", "import streamlit as st\n", "never imports Streamlit-side code"),
    ("dosimetry", "from prrt_core.store import Store\n", "dosimetry may import only ['errors', 'paths']"),
    ("clinical", "from prrt_core import store\n", "clinical may import only"),
    ("store", "from prrt_core.clinical import toxicity\n", "store may import only"),
    ("views", "from ui import database\n", "never imports Streamlit-side code"),
    ("projection", "from .. import store\n", "projection may import only"),
])
def test_the_checker_catches_a_new_violation(layer, source, expected):
    """The layer test must fail on the violations the architecture forbids (a test that cannot fail is a defect)."""
    found = violations(CORE / layer / "_layer_probe.py", source)
    assert any(expected in v for v in found), found


def test_allowed_imports_pass_the_checker():
    source = "from prrt_core import dosimetry\nfrom prrt_core.errors import InputError\nimport numpy\nfrom . import model\n"
    assert violations(CORE / "projection" / "_layer_probe.py", source) == []


def caught(path: Path) -> list[tuple[int, str]]:
    """(line, class name) of every exception an ``except`` clause of ``path`` names ('' for a bare except)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ExceptHandler):
            kinds = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            for kind in kinds:
                name = "" if kind is None else kind.attr if isinstance(kind, ast.Attribute) else getattr(kind, "id", "?")
                out.append((node.lineno, name))
    return out


def test_pages_catch_only_the_errors_of_prrt_core():
    """A page shows a message for refused input (PrrtError and its subclasses) and nothing else: a
    programming error is never turned into a user message (docs/architecture.md, "Errors")."""
    ours = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, errors.PrrtError)}
    found = [f"{path.relative_to(REPO)}:{line}: except {name or '(bare)'}"
             for folder in ("pages", "ui") for path in sorted((REPO / folder).glob("*.py"))
             for line, name in caught(path) if name not in ours]
    assert not found, "\n".join(found)


def test_the_except_check_sees_every_form(tmp_path):
    probe = tmp_path / "page.py"
    probe.write_text("try:\n    pass\nexcept (ValueError, importer.ImportRejected):\n    pass\n"
                     "try:\n    pass\nexcept:\n    pass\n")
    assert caught(probe) == [(3, "ValueError"), (3, "ImportRejected"), (7, "")]


MODULE_MAX_LINES = 400  # one idea per module (docs/architecture.md)
PAGE_MAX_LINES = 200  # a page is widgets -> one prrt_core call -> render


def test_modules_and_pages_stay_small():
    too_long = [f"{path.relative_to(REPO)}: {n} lines (at most {limit})"
                for paths, limit in ((core_files() + sorted((REPO / "ui").glob("*.py")), MODULE_MAX_LINES),
                                     (sorted((REPO / "pages").glob("*.py")), PAGE_MAX_LINES))
                for path in paths if (n := len(path.read_text().splitlines())) > limit]
    assert not too_long, "\n".join(too_long)


def executes_sql(path: Path) -> list[int]:
    """Lines of ``path`` that call .execute / .executemany / .executescript (a statement sent to a database)."""
    return [node.lineno for node in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "executescript")]


def test_only_the_store_speaks_sql():
    """SQL lives in prrt_core/store (the one place per engine): nothing else executes a statement."""
    outside = [p for p in core_files() if layer_of(p) != "store"]
    outside += sorted((REPO / "ui").glob("*.py")) + sorted((REPO / "pages").glob("*.py")) + [REPO / "app.py"]
    found = [f"{path.relative_to(REPO)}:{line}" for path in outside for line in executes_sql(path)]
    assert not found, "\n".join(found)
    assert executes_sql(CORE / "store" / "database.py"), "the check must see the store's own statements"
