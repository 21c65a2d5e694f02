"""The layers only point down, and the README's import graph is the code's.

Every `import` in the shipped packages is read (module level and inside functions alike) and
mapped to the layer of the package it names. A package may import its own modules and the layers
below it, never above. `python tests/test_layers.py` prints the graph for the README.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# lowest first; a package imports only from layers before its own
LAYERS = (("stream",), ("corpora",), ("synth",), ("model", "calibration"), ("bench", "ui"), ("cli",), ("mer_cli",))
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# imports that point up on purpose, each with its reason
ALLOWED_UP = {
    ("corpora.replay", "synth"): "open_source('synthetic:SEED') opens the generated stream, imported when asked for",
}


def modules() -> dict[str, Path]:
    found = {"mer_cli": REPO / "mer_cli.py"} if (REPO / "mer_cli.py").exists() else {}
    for package in RANK:
        folder = REPO / package
        if folder.is_dir():
            for path in sorted(folder.glob("*.py")):
                found[package if path.stem == "__init__" else f"{package}.{path.stem}"] = path
    return found


def imports_of(path: Path) -> set[str]:
    """The names of our packages' modules that `path` imports (absolute imports only: we use no others)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] in RANK}


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
            if (REPO / package).exists() or (REPO / f"{package}.py").exists():
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


def test_the_readme_shows_this_graph():
    readme = (REPO / "README.md").read_text()
    assert "\n".join(graph_lines()) in readme, "regenerate with: python tests/test_layers.py"


if __name__ == "__main__":
    print("\n".join(graph_lines()))
