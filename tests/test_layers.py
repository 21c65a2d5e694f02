"""The layers only point down, everything imports through the one namespace, and the import graph
in docs/architecture.md is the code's.

Every `import` in the shipped packages is read (module level and inside functions alike) and
mapped to the layer of the package it names. A package may import its own modules and the layers
below it, never above. What installs is `mer_live.<folder>` (pyproject.toml's package-dir): an
import of a bare folder name (`import stream`) works only from the repository's root and breaks an
installed copy, so none may be left. `python tests/test_layers.py` prints the graph for docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# lowest first; a package imports only from layers before its own
LAYERS = (
    ("stream",),
    ("corpora",),
    ("synth",),
    ("sources",),
    ("model", "calibration"),
    ("bench", "ui"),
    ("cli",),
    ("mer_live",),
)
NAMESPACE = "mer_live"
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# imports that point up on purpose, each with its reason
ALLOWED_UP: dict[tuple[str, str], str] = {}


def modules() -> dict[str, Path]:
    """Our modules by name within the namespace (`stream.spotter`; `mer_live` for its own files)."""
    found = {}
    for package in RANK:
        folder = REPO / package
        if folder.is_dir():
            for path in sorted(folder.glob("*.py")):
                found[
                    package
                    if path.stem in ("__init__", "__main__") and package == NAMESPACE
                    else package
                    if path.stem == "__init__"
                    else f"{package}.{path.stem}"
                ] = path
    return found


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def imports_of(path: Path) -> set[str]:
    """Our modules that `path` imports, named within the namespace (absolute imports only: we use no others)."""
    inside = {name.removeprefix(f"{NAMESPACE}.") for name in imported_names(path) if name.startswith(f"{NAMESPACE}.")}
    return {name for name in inside if name.split(".")[0] in RANK}


def test_everything_imports_through_the_namespace():
    sources = [*modules().values(), *sorted((REPO / "tests").glob("*.py")), *sorted((REPO / "scripts").glob("*.py"))]
    bare = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in sources
        for name in sorted(imported_names(path))
        if name.split(".")[0] in RANK and name.split(".")[0] != NAMESPACE
    ]
    assert not bare, f"imports that bypass {NAMESPACE}:\n" + "\n".join(bare)


def package_edges() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) → the importing modules; the allowed upward imports aside."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, path in modules().items():
        for name in imports_of(path):
            edge = (module.split(".")[0], name.split(".")[0])
            if edge[0] != edge[1] and (module, edge[1]) not in ALLOWED_UP:
                edges.setdefault(edge, []).append(module)
    return edges


def graph_lines() -> list[str]:
    edges = package_edges()
    lines = []
    for packages in reversed(LAYERS):
        for package in packages:
            below = sorted({b for (a, b) in edges if a == package}, key=lambda b: (-RANK[b], b))
            if (REPO / package).exists():
                lines.append(f"{package:<12} → {', '.join(below) if below else '(nothing of ours)'}")
    lines += [f"{module} ⇢ {package} (inside a function: {why})" for (module, package), why in ALLOWED_UP.items()]
    return lines


def test_no_import_points_up():
    upward = []
    for module, path in modules().items():
        for name in imports_of(path):
            here, there = module.split(".")[0], name.split(".")[0]
            allowed = (module, there) in ALLOWED_UP
            if RANK[there] > RANK[here] or (RANK[there] == RANK[here] and here != there and not allowed):
                if not allowed:
                    upward.append(f"{module} imports {name}")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def test_no_module_level_import_circle_inside_a_package():
    graph = {}
    for module, path in modules().items():
        tree = ast.parse(path.read_text())
        top = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module)
            elif isinstance(node, ast.Import):
                top.update(alias.name for alias in node.names)
        graph[module] = {name for name in top if name in modules()}
    state: dict[str, int] = {}

    def visit(module, trail):
        if state.get(module) == 1:
            raise AssertionError("import circle: " + " → ".join(trail + [module]))
        if state.get(module) == 2:
            return
        state[module] = 1
        for name in graph.get(module, ()):
            visit(name, trail + [module])
        state[module] = 2

    for module in graph:
        visit(module, [])


def test_the_architecture_page_shows_this_graph():
    readme = (REPO / "docs" / "architecture.md").read_text()
    assert "\n".join(graph_lines()) in readme, "regenerate with: python tests/test_layers.py"


if __name__ == "__main__":
    print("\n".join(graph_lines()))
