"""The test tree's own rules.

Test folders are not packages, so pytest imports each test module by its bare
file name: two modules with the same name in different folders make the whole
run fail at collection, in whichever order the folders happen to be read.
"""

from __future__ import annotations

import ast
import functools
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_module_basenames_are_unique_across_the_test_tree() -> None:
    seen: dict[str, list[str]] = defaultdict(list)
    for path in TESTS.rglob("*.py"):
        if path.name != "conftest.py" and "__pycache__" not in path.parts:
            seen[path.name].append(str(path.relative_to(TESTS)))
    clashes = {name: paths for name, paths in seen.items() if len(paths) > 1}
    assert not clashes, f"rename one of each: {clashes}"


# -- the import layers of the package --------------------------------------------------------

SRC = TESTS.parent / "src" / "bitgaram"

#: bitgaram's packages (and top-level modules) from the bottom of the pipeline to its
#: surfaces. A package may import from lower layers only: never from a higher one, nor from
#: another package of its own layer. Adding a package means placing it here.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),  # the exception tree
    ("config",),  # the one Settings
    ("datasets",),  # vendor files (CityLearn) read at the edge
    ("assets",),  # physics of each asset kind
    ("site",),  # the site file, its arrays, the controller protocol, site file -> physics
    ("store",),  # the storage contract and its backends
    ("tariff",),  # prices and bills
    ("account",),  # carbon and renewable accounting
    ("collect", "forecast"),  # ingest; predict
    ("optimize",),  # decide
    ("simulate", "peak"),  # replay decisions; watch demand
    ("control",),  # act on equipment
    ("verify", "report", "synth", "web"),  # savings, reports, synthetic parks, static pages
    ("fleet",),  # many sites at once
    ("api",),  # the web API
    ("cli",),  # the command line
)


@functools.cache
def _bitgaram_imports() -> dict[str, dict[str, set[str]]]:
    """:func:`_package_imports` of the installed source tree (parsed once per run)."""
    return _package_imports(SRC)


def _is_module(root: Path, name: str) -> bool:
    return (root / name / "__init__.py").exists() or (root / f"{name}.py").exists()


def _package_imports(root: Path = SRC) -> dict[str, dict[str, set[str]]]:
    """For each package under ``root``: the other bitgaram packages it imports, with the files.

    Every import counts, including those inside functions and under TYPE_CHECKING
    (a lazy import upward is still a dependency upward). The root ``__init__.py``
    is the package ``""``.
    """
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        package = rel.parts[0].removesuffix(".py") if rel.parts != ("__init__.py",) else ""
        dotted = ["bitgaram", *rel.with_suffix("").parts]
        if dotted[-1] == "__init__":
            dotted.pop()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    base = dotted[: len(dotted) - node.level + (path.name == "__init__.py")]
                    module = ".".join([*base, *([module] if module else [])])
                # ``from bitgaram import store`` imports the package it names
                names = [""]
                if module == "bitgaram":  # (names that are not modules, e.g. __version__, aside)
                    names = [a.name for a in node.names if _is_module(root, a.name)]
                targets = [f"{module}.{n}" if n else module for n in names]
            for target in targets:
                parts = target.split(".")
                if parts[0] == "bitgaram" and len(parts) > 1 and parts[1] != package:
                    found[package][parts[1]].add(str(rel))
    return found


def test_every_package_has_a_layer() -> None:
    declared = [p for layer in LAYERS for p in layer]
    assert len(declared) == len(set(declared)), "a package is declared twice"
    present = {
        p.name.removesuffix(".py")
        for p in SRC.iterdir()
        if (p.is_dir() and (p / "__init__.py").exists())
        or (p.suffix == ".py" and p.name != "__init__.py")
    }
    assert present - set(declared) == set(), "place these packages in LAYERS"
    assert set(declared) - present == set(), "LAYERS names packages that do not exist"


def test_packages_import_only_lower_layers() -> None:
    level = {p: i for i, layer in enumerate(LAYERS) for p in layer}
    wrong = []
    for package, imported in _bitgaram_imports().items():
        for other, files in imported.items():
            if package == "":  # bitgaram/__init__.py runs before any package: errors only
                ok = other == "errors"
            else:
                ok = level.get(other, len(LAYERS)) < level.get(package, -1)
            if not ok:
                wrong.append(f"{package or 'bitgaram'} -> {other} ({', '.join(sorted(files))})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))


def test_no_import_cycle_between_packages() -> None:
    graph = {p: set(imported) for p, imported in _bitgaram_imports().items() if p}
    cycles = []
    # a package on a cycle reaches itself
    for start in sorted(graph):
        seen: set[str] = set()
        todo = list(graph[start])
        while todo:
            node = todo.pop()
            if node == start:
                cycles.append(start)
                break
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
    assert not cycles, f"packages on an import cycle: {cycles}"


def test_the_layer_check_sees_lazy_and_relative_imports(tmp_path: Path) -> None:
    """The parser on a small tree: imports inside functions and relative imports count."""
    for name, text in {
        "__init__.py": "",
        "store/__init__.py": "from .base import Store\n",
        "store/base.py": "def f():\n    from ..api import app\n",
        "api/__init__.py": "",
        "api/app.py": "from bitgaram import store\n",
        "api/routes.py": "import bitgaram.api.app\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    imported = _package_imports(tmp_path)
    assert dict(imported["store"]) == {"api": {"store/base.py"}}  # lazy and relative
    assert dict(imported["api"]) == {"store": {"api/app.py"}}  # own package not counted


def test_the_cycle_once_between_optimize_and_simulate_is_gone() -> None:
    imported = _bitgaram_imports()
    assert "simulate" not in imported["optimize"]
    assert {"optimize", "site"} <= set(imported["simulate"])


# -- the store is reached through its protocol only ---------------------------------------------

#: Modules of the store that only the store package (and its opener) may import.
_BACKENDS = ("bitgaram.store.sql", "bitgaram.store.duckdb_store", "bitgaram.store.postgres_store")


def test_outside_the_store_nobody_names_a_backend_or_a_private_store_member() -> None:
    wrong = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        if rel.parts[0] == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_BACKENDS):
                wrong.append(f"{rel}:{node.lineno}: imports {node.module}")
            elif isinstance(node, ast.Import):
                wrong += [
                    f"{rel}:{node.lineno}: imports {a.name}"
                    for a in node.names
                    if a.name.startswith(_BACKENDS)
                ]
            elif (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and ast.unparse(node.value).split(".")[-1].lower().endswith("store")
            ):
                wrong.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not wrong, "use the Store protocol:\n" + "\n".join(wrong)
