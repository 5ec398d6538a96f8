"""pytest setup for tap-qtickets: makes tapqt_helpers importable and provides the captures fixture."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from tapqt_helpers import CAPTURES


@pytest.fixture
def captures() -> Path:
    # CI always checks out shared/ beside the clone: a silently skipped parsing suite would be a hole.
    if not CAPTURES.is_dir():
        pytest.fail(f"API captures not found at {CAPTURES}: the capture tests need "
                    "../shared/qtickets-captures beside the repository clone", pytrace=False)
    return CAPTURES
