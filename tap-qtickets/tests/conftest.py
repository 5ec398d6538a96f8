"""pytest setup for tap-qtickets: makes tapqt_helpers importable and provides the captures fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tapqt_helpers import CAPTURES


@pytest.fixture
def captures() -> Path:
    if not CAPTURES.is_dir():
        pytest.skip(f"captures not found at {CAPTURES}")
    return CAPTURES
