"""The committed API captures (tests/fixtures/qtickets-captures) are a byte-identical copy of the project's
shared originals in ../shared/qtickets-captures, whenever those are beside the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ORIGINALS = Path(__file__).resolve().parents[2] / "shared" / "qtickets-captures"


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.skipif(not ORIGINALS.is_dir(), reason=f"no shared captures at {ORIGINALS} to compare with "
                    "(a clean clone has no ../shared); the committed copy is used as it is")
def test_committed_captures_are_a_byte_identical_copy_of_shared(captures_dir):
    committed, originals = files(captures_dir), files(ORIGINALS)
    assert sorted(committed) == sorted(originals), "file lists differ: copy ../shared/qtickets-captures again"
    changed = [name for name in originals if committed[name] != originals[name]]
    assert not changed, f"bytes differ from ../shared/qtickets-captures: {changed}"
