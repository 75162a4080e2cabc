"""The package layering of ARCHITECTURE.md "Layout": `agent/` and `hal/` never import `tools/` or `tests/`;
`hal/` never imports `agent/`. Checked on the AST of every module (imports at any depth, relative imports
resolved, and "module:Class" strings of lazy import tables), so a function-local import counts too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = {"agent": ("tools", "tests"), "hal": ("tools", "tests", "agent")}
_MODULE_STRING = re.compile(r"[a-z_]+(\.[a-z_0-9]+)*(:[A-Za-z_0-9]+)?\Z")


def imported_modules(source: str, module: str) -> set[str]:
    """Every module name ``source`` (the text of ``module``, dotted) imports, or names as an import string."""
    found: set[str] = set()
    package = module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and _MODULE_STRING.match(node.value) and ("." in node.value or ":" in node.value)):
            found.add(node.value.split(":")[0])
    return found


def violations(package: str, source: str, module: str) -> list[str]:
    """``module: imports X`` for every import of ``source`` the layering forbids for ``package``."""
    bad = FORBIDDEN[package]
    return sorted(
        f"{module}: imports {name}"
        for name in imported_modules(source, module)
        if name.split(".")[0] in bad
    )


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield ".".join(parts) + (".__init__" if rel.name == "__init__" else ""), path


def test_agent_and_hal_never_import_tools_or_tests():
    found = []
    checked = 0
    for package in FORBIDDEN:
        for module, path in _modules(package):
            found += violations(package, path.read_text(encoding="utf-8"), module)
            checked += 1
    assert checked > 50, f"only {checked} modules found under agent/ and hal/"
    assert not found, "layering broken (ARCHITECTURE.md Layout):\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("package", "source"),
    [
        ("agent", "import tools.hitlist_cli"),
        ("agent", "def f():\n    from tools.hitlist_cli import read_public_key\n"),
        ("agent", "from tests.link.harness import Keys"),
        ("hal", "from agent.errors import AgentError"),
        ("hal", "from ...agent import keys"),
        ("hal", "TABLE = {'x': 'agent.keys:KeyFileError'}"),
        ("agent", "import importlib\nimportlib.import_module('tools.central.node')"),
    ],
    ids=["import", "function-local", "tests", "hal-agent", "relative-escape", "lazy-table", "import_module"],
)
def test_layering_check_catches_a_forbidden_import(package, source):
    assert violations(package, source, f"{package}.sub.mod"), "the layering check missed a forbidden import"


def test_layering_check_allows_own_and_lower_layers():
    assert not violations("agent", "from hal import open_reader\nfrom agent.keys import trusted\nfrom . import x",
                          "agent.sub.mod")
