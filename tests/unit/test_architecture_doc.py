"""docs/architecture.md stays true: every module, file and function it names exists (the
module map; the flows of a request and a chunk, the state tables and the checklist for a
new task kind)."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "architecture.md").read_text()
FILES = [p for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts]
# `api/kind_views.kind_view`, `service/engine.Engine.create_task`, `domain/task.py`, `ui/` ...
CODE = re.compile(r"`([\w./-]+)`")
FILE = re.compile(r"^([\w/.-]*?[\w-]+)\.(py|md|sql|yaml|json|js|css|html)$")
REFERENCE = re.compile(r"^((?:[\w-]+/)*[\w-]+)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)$")


def _names(text: str) -> set[str]:
    return {m for m in CODE.findall(text) if "/" in m or FILE.match(m)}


def _map_rows() -> list[tuple[str, str]]:
    """(directory, cell) for each row of the module map's table and its infra paragraph."""
    section = PAGE[PAGE.index("## Module map"):]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and line.startswith("|") and not set(cells[1]) <= set("-"):
            layer = CODE.findall(cells[0])
            rows.append(("chalicelib/" + (layer[0] if layer else ""), cells[1]))
    infra = section[section.index("`infra/` (never shipped)"):]
    top, local = infra.split("`infra/local/`", 1)
    return rows + [("infra/", top), ("infra/local/", local)]


def _exists_under(directory: str, name: str) -> bool:
    return (ROOT / directory / name).exists() or (ROOT / name).exists()


def test_the_module_map_names_modules_that_exist():
    rows = _map_rows()
    assert len(rows) >= 10
    missing = [f"{d}{n}" for d, cell in rows for n in _names(cell)
               if n != "modules" and not _exists_under(d, n)]
    assert missing == []


def _resolve(path: str) -> Path | None:
    """The file a name in the text means: from the root, chalicelib/ or tests/, else the
    one file of that name."""
    for base in ("", "chalicelib/", "tests/", "tests/unit/", "tests/integration/"):
        for candidate in (base + path, base + path + ".py"):
            if (ROOT / candidate).exists():
                return ROOT / candidate
    matches = [p for p in FILES if p.name == path]
    return matches[0] if len(matches) == 1 else None


TEXT = PAGE[:PAGE.index("## Module map")]         # the flows, the tables and the checklist
PATHS = sorted(n for n in _names(TEXT) if not n.startswith("/")      # not a URL path
               and (FILE.match(n) or not REFERENCE.match(n)))
REFERENCES = sorted(n for n in _names(TEXT) if REFERENCE.match(n) and not FILE.match(n))


@pytest.mark.parametrize("name", PATHS)
def test_every_file_the_page_names_exists(name):
    assert _resolve(name.rstrip("/")) is not None, name


@pytest.mark.parametrize("name", REFERENCES)
def test_every_function_the_page_names_exists(name):
    module_path, attrs = REFERENCE.match(name).groups()
    path = _resolve(module_path + ".py")
    assert path is not None, f"{name}: no module {module_path}.py"
    obj = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    for attr in attrs.split("."):
        assert hasattr(obj, attr), f"{name}: no {attr}"
        obj = getattr(obj, attr)
