"""The package is layered: a module imports only from its own layer or those below, and no two
parts of the package import each other, however indirectly."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from etl_platform.project import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "etl_platform"

# Bottom to top; each part is a module or subpackage directly under etl_platform/.
LAYERS = (
    (
        "contract",
        "errors",
        "project",
        "spark_connect",
        "settings",
        "datasets",
    ),  # names, rules and settings both sides share
    # interfaces to storage and compute, their implementations, and the SQL engine's jobs
    ("resources", "spark_service", "postgres_service", "sql_jobs"),
    ("tables", "quarantine", "sql_guard", "progress", "samples", "orphans"),  # what the platform does with them
    ("assets", "checks", "automation", "insight", "jobs", "rollback"),  # the Dagster graph
    ("environment", "definitions", "pool_wait", "instance", "serve", "deploy", "infra_template", "cli"),  # entry points
)
LAYER_OF = {part: level for level, parts in enumerate(LAYERS) for part in parts}


def _part(module: str) -> str | None:
    pieces = module.split(".")
    return pieces[1] if pieces[0] == "etl_platform" and len(pieces) > 1 else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(PROJECT_ROOT).with_suffix("")
    pieces = list(relative.parts)
    return ".".join(pieces[:-1] if pieces[-1] == "__init__" else pieces)


def package_parts() -> set[str]:
    modules = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    return modules | {path.parent.name for path in PACKAGE.glob("*/__init__.py")}


def package_imports() -> dict[str, set[str]]:
    """Part -> the other parts it imports (at any depth of its code, lazy imports included)."""
    edges: dict[str, set[str]] = defaultdict(set)
    parts = package_parts()
    for path in PACKAGE.rglob("*.py"):
        source = _part(_module_name(path)) or "__init__"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            edges[source] |= {target for target in map(_part, names) if target in parts and target != source}
    return edges


def test_every_part_of_the_package_has_a_layer() -> None:
    assert sorted(package_parts() - LAYER_OF.keys()) == []


def test_no_part_imports_from_a_layer_above_it() -> None:
    upward = sorted(
        f"{source} (layer {LAYER_OF[source]}) imports {target} (layer {LAYER_OF[target]})"
        for source, targets in package_imports().items()
        if source in LAYER_OF
        for target in targets
        if LAYER_OF.get(target, -1) > LAYER_OF[source]
    )
    assert upward == []


def test_no_two_parts_import_each_other() -> None:
    edges = package_imports()

    def reaches(start: str, goal: str) -> bool:
        seen, todo = set(), [start]
        while todo:
            current = todo.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(edges.get(current, ()))
        return False

    cycles = sorted(f"{a} <-> {b}" for a in edges for b in edges[a] if a < b and reaches(b, a))
    assert cycles == []
