"""The imaging core stays pure and the pipeline knows nothing of WebRTC or HTTP (imports read with ast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "server"
FORBIDDEN = {
    "imaging": {"asyncio", "aiortc", "aiohttp"},
    "pipeline": {"aiortc", "aiohttp"},
    "storage": {"asyncio", "aiortc", "aiohttp"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer: str) -> None:
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules found under server/{layer}"
    for path in files:
        bad = imported_roots(path) & FORBIDDEN[layer]
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {sorted(bad)}"


def test_imaging_imports_only_its_own_layer() -> None:
    for path in sorted((PACKAGE / "imaging").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 2:
                pytest.fail(f"{path.name} imports from a layer above imaging: ..{node.module}")
