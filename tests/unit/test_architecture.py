"""The layer rule and the size rule of docs/architecture.md, checked on the source (no imports run).

- the pure layer (wire/, auth.py, book_sync.py, constants.py, errors.py) reaches no I/O library and
  nothing from transport/ or feed/, directly or through another module of the package;
- the package has no import cycle (imports inside functions count too);
- no module is over 400 lines;
- the exchange id and every REST path are written once in the package.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cryptofeed_backpack"
PURE = ("wire", "auth", "book_sync", "constants", "errors")
IO_MODULES = ("asyncio", "aiohttp", "aiohttp_socks", "python_socks", "websockets", "socket", "ssl", "requests",
              "urllib.request", "http.client", "cryptofeed.connection", "cryptofeed.feed", "cryptofeed.feedhandler",
              "cryptofeed.connection_handler")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute names, relative ones resolved."""
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from . import auth` imports a module, not a name
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in _imports(path) if m in MODULES and m != name} for name, path in MODULES.items()}
ALL_IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _is_pure(name: str) -> bool:
    return any(name == f"cryptofeed_backpack.{p}" or name.startswith(f"cryptofeed_backpack.{p}.") for p in PURE)


def test_pure_layer_reaches_no_io():
    offenders = []
    for name in (n for n in MODULES if _is_pure(n)):
        for dep in GRAPH[name]:
            if not _is_pure(dep) and dep != "cryptofeed_backpack":
                offenders.append(f"{name} imports {dep}, which is not in the pure layer")
        for imported in ALL_IMPORTS[name]:
            if imported.startswith(IO_MODULES) and imported.split(".")[0] in {m.split(".")[0] for m in IO_MODULES}:
                if any(imported == m or imported.startswith(m + ".") for m in IO_MODULES):
                    offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_no_import_cycle():
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH[node]):
            if dep == "cryptofeed_backpack" or dep == node.rpartition(".")[0]:
                continue  # a package's __init__ re-exporting is not a cycle through its children
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep):] + [dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_no_module_over_400_lines():
    long = {name: n for name, p in MODULES.items() if (n := len(p.read_text().splitlines())) > 400}
    assert long == {}


def _string_constants(path: Path) -> list[str]:
    """Every string literal of a module, except the names listed in ``__all__``."""
    tree = ast.parse(path.read_text())
    exported = {id(c) for node in ast.walk(tree) if isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets)
                for c in ast.walk(node.value)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in exported]


def test_exchange_facts_are_written_once():
    literals = {name: _string_constants(p) for name, p in MODULES.items()}
    assert [n for n, values in literals.items() if "BACKPACK" in values] == ["cryptofeed_backpack.constants"]
    rest_path = re.compile(r"^/(?:api|wapi)/v1/[A-Za-z/]+$")
    sites: dict[str, list[str]] = {}
    for name, values in literals.items():
        for value in values:
            if rest_path.match(value):
                sites.setdefault(value, []).append(name)
    assert {p: s for p, s in sites.items() if s != ["cryptofeed_backpack.constants"]} == {}
