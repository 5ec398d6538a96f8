import json
from pathlib import Path

import pytest
import requests
from qtickets_sandbox.testing import SandboxServer

TOKEN = "test-token"


class Client:
    """Talks to a running sandbox the way an API user does: GET with a JSON body, bearer token."""

    def __init__(self, sb: SandboxServer):
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {sb.token}"

    def get(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.session.get(self.sb.base_url + path, json=body, timeout=30, **kwargs)

    def json(self, path: str, body=None):
        r = self.get(path, body)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        return r.json()

    def all_orders(self) -> list[dict]:
        return self.json("/orders", {"per_page": 1000})["data"] if self.total("/orders") <= 1000 else None

    def total(self, path: str) -> int:
        return self.json(path, {"per_page": 1})["paging"]["total"]


@pytest.fixture(scope="session")
def capture(captures_dir: Path):
    """Loader for the production captures (`captures_dir`, from the root conftest.py)."""

    def load(name: str):
        return json.loads((captures_dir / name).read_text(encoding="utf-8"))

    return load


@pytest.fixture(scope="session")
def shared_sb():
    """A read-only sandbox for tests that do not change state (no advance, no faults)."""
    with SandboxServer(seed=7, orders=300, events=8, token=TOKEN, start_date="2025-11-03") as sb:
        yield sb


@pytest.fixture(scope="session")
def api(shared_sb):
    return Client(shared_sb)


@pytest.fixture
def fresh_sb():
    """A private sandbox for tests that advance the clock, inject faults or count requests."""
    with SandboxServer(seed=11, orders=200, events=6, token=TOKEN, start_date="2025-11-03") as sb:
        yield sb


@pytest.fixture
def fresh_api(fresh_sb):
    return Client(fresh_sb)
