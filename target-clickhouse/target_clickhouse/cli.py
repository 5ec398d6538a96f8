"""Console entry point (`target-clickhouse`, `python -m target_clickhouse`).

The CLI process never handles arrays or DataFrames, yet importing singer-sdk (via joblib) pulls in
numpy, and opening chdb pulls in pyarrow: ≈0.3 CPU-seconds of start-up for nothing. While the CLI
runs, those modules are marked absent, so the libraries take their documented "not installed" paths
(joblib, chdb and clickhouse-connect all import them optionally). Library use of `target_clickhouse`
(tests, the pipeline) is unaffected.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator

UNUSED_MODULES = ("numpy", "pandas", "pyarrow", "polars")


@contextlib.contextmanager
def modules_absent(names: tuple[str, ...]) -> Iterator[None]:
    """Make `import name` raise ImportError inside the block (unless it is already imported)."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def main() -> None:
    # Buffered rows are long-lived containers; the default GC thresholds rescan them every few
    # hundred allocations. Fewer young collections cost nothing in memory here (no reference cycles
    # on the hot path) and save ≈5% CPU.
    gc.set_threshold(20_000, 50, 50)
    with modules_absent(UNUSED_MODULES):
        from target_clickhouse.target import TargetClickHouse

        TargetClickHouse.cli()


if __name__ == "__main__":
    main()
