"""singer-sdk internals stay in the `_fastpath.py` modules: anywhere else the tap and the target use the
SDK's public surface only, so an SDK upgrade cannot break them silently."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import singer_sdk
from singer_sdk import io_base, plugin_base, sinks, streams, tap_base, target_base
from singer_sdk.contrib import msgspec as sdk_msgspec

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
PACKAGES = [REPO / "tap-qtickets" / "tap_qtickets", REPO / "target-clickhouse" / "target_clickhouse"]
ALLOWED = "_fastpath.py"


def _sdk_private_names() -> set[str]:
    """Every `_name` (not dunder) defined by the SDK's plugin, stream, sink, reader and writer classes."""
    modules = (plugin_base, tap_base, target_base, io_base, sdk_msgspec, streams, sinks)
    exported = [obj for module in modules for _, obj in inspect.getmembers(module, inspect.isclass)]
    classes = list({klass for cls in exported for klass in cls.__mro__
                    if klass.__module__.startswith("singer_sdk")})
    names: set[str] = set()
    for cls in classes:
        names |= {n for n in vars(cls) if n.startswith("_") and not n.startswith("__")}
    # Instance attributes set in the SDK's methods (`self._tap = tap`, ...).
    for cls in classes:
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        tree = ast.parse(source.strip() if source.startswith(" ") else source)
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                  and isinstance(node.value, ast.Name) and node.value.id == "self"
                  and node.attr.startswith("_") and not node.attr.startswith("__")}
    return names


def _uses(path: Path, private: set[str]) -> list[str]:
    """SDK private names this file reads, or overrides (a method of the same name: a private hook)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path.name}:{node.lineno}: def {node.name}" for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef) and node.name in private]
    own = {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private and node.attr not in own:
            found.append(f"{path.name}:{node.lineno}: .{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("singer_sdk") \
                and any(part.startswith("_") for part in node.module.split(".")):
            found.append(f"{path.name}:{node.lineno}: from {node.module}")
    return found


def test_the_guard_knows_the_sdk_private_names():
    private = _sdk_private_names()
    assert {"_tap", "_write_record_message", "_sinks_active", "_process_record_message"} <= private
    assert singer_sdk.__name__ == "singer_sdk"


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_sdk_internals_only_in_fastpath_modules(package):
    private = _sdk_private_names()
    found = [hit for path in sorted(package.rglob("*.py")) if path.name != ALLOWED
             for hit in _uses(path, private)]
    assert found == []
