"""The package's shape: imports run one way, from text up to the interfaces, with no cycle; no module is too long."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "semsearch"
# Lowest first. A module may import modules of its own layer or of lower ones, never of a higher one.
LAYERS = [
    {"semsearch.errors", "semsearch.config", "semsearch.types"},
    {"semsearch.text"},
    {"semsearch.ingest"},
    {"semsearch.analysis"},
    {"semsearch.encoders"},
    {"semsearch.store"},
    {"semsearch.indexer"},
    {"semsearch.retrieval"},
    {"semsearch.answer"},
    {"semsearch.index", "semsearch.evaluate"},
    {"semsearch.interfaces", "semsearch.integrations", "semsearch.__main__", "semsearch"},
]
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Package modules ``path`` imports anywhere in it (inside functions too): no import dodges the contract."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}: relative import; the layers are read from absolute ones")
            base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def _layer(module: str) -> int:
    for number, prefixes in enumerate(LAYERS):
        if module in prefixes or any(module.startswith(prefix + ".") for prefix in prefixes if prefix != "semsearch"):
            return number
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS")


def test_every_module_imports_only_its_own_layer_or_lower_ones():
    modules = _modules()
    upward = [f"{source} -> {target}" for source, path in modules.items() for target in _imports(path, modules)
              if _layer(target) > _layer(source)]
    assert not upward, "imports that reach up a layer:\n" + "\n".join(upward)


def test_no_modules_import_each_other_in_a_cycle():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    # The package's own __init__ re-exports lazily and sits on top; subpackage __init__s re-export their modules.
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]))
            elif target not in state:
                visit(target, trail + [target])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_longer_than_the_limit():
    long = {name: n for name, path in _modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, long


def test_the_contract_catches_an_upward_import(tmp_path):
    # The check itself can fail: a store module importing retrieval is reported.
    modules = _modules()
    bad = tmp_path / "bad.py"
    bad.write_text("from semsearch.retrieval.search import search\n", encoding="utf-8")
    assert _layer("semsearch.store.generation") < _layer(next(iter(_imports(bad, modules))))
