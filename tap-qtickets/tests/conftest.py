"""pytest setup for tap-qtickets: makes tapqt_helpers importable (captures: the root conftest.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
