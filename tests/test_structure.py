"""The shape of the package: modules of one job and a few hundred lines, no import
cycle, no private name reached into from another package."""

from __future__ import annotations

import ast
from pathlib import Path

import artifactstore

PACKAGE = Path(artifactstore.__file__).parent
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def top_level_imports(
    module: str, path: Path, *, everywhere: bool = False
) -> list[tuple[str, list[str]]]:
    """(imported module, names) of the imports run when the module loads.

    Imports under ``if TYPE_CHECKING:`` and inside functions are left out (they do
    not run at import time) unless ``everywhere``.
    """
    tree = ast.parse(path.read_text())
    package = package_of(module, path)
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree) if everywhere else tree.body:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, [alias.name for alias in node.names]))
    return found


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"split these modules: {long}"


def test_no_import_cycle() -> None:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for target, names in top_level_imports(name, path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in known:
                    edges.add(candidate)
                    break
        # The root package's __init__ imports the public names of everything, and
        # the subpackages take its helper ``_publish``: that edge is not a cycle of
        # behaviour, every module is loaded before it is called.
        graph[name] = {e for e in edges if e != "artifactstore"} - {name}
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # A package's __init__ re-exporting its own modules is not a cycle either.
    cycles = [c for c in cycles if not all(m.startswith(c[0]) or c[0].startswith(m) for m in c)]
    assert not cycles, f"import cycles: {cycles}"


def private_reaches(
    name: str, package: str, imports: list[tuple[str, list[str]]], known: dict[str, Path]
) -> list[str]:
    """The imports of ``name`` (in ``package``) that reach a private part of another package."""
    reached = []
    for target, names in imports:
        if not target.startswith("artifactstore"):
            continue
        parts = target.split(".")
        for i, part in enumerate(parts):
            private = part.startswith("_") and not part.startswith("__")
            if private and not package.startswith(".".join(parts[:i])):
                reached.append(f"{name} imports {target}")
        is_package = target in known and known[target].name == "__init__.py"
        owner = target if is_package else target.rpartition(".")[0]
        for imported in names:
            # _publish: the root's helper that sets __module__ (see artifactstore/__init__).
            private = imported.startswith("_") and imported != "_publish"
            if private and not package.startswith(owner):
                reached.append(f"{name} imports {imported} from {target}")
    return reached


def test_no_private_name_is_reached_across_packages() -> None:
    """A ``_private`` module or name is used by its own package or a package within it."""
    known = modules()
    reached = []
    for name, path in known.items():
        imports = top_level_imports(name, path, everywhere=True)  # deferred imports too
        reached += private_reaches(name, package_of(name, path), imports, known)
    assert not reached, reached
    # The rule itself: an ancestor's private module is shared, a sibling's is not.
    layers = "artifactstore.layers"
    assert not private_reaches(layers, layers, [("artifactstore._drive", ["sleep"])], known)
    assert private_reaches(layers, layers, [("artifactstore.transfer._reports", ["X"])], known)
    assert private_reaches(layers, layers, [("artifactstore.transfer", ["_helper"])], known)
    root = "artifactstore"  # a parent may not reach into its subpackage's private modules
    assert private_reaches(root, root, [("artifactstore.backends.s3._settings", ["S"])], known)
