"""JSON on the wire the way QTickets (PHP `json_encode`) writes it: compact, `\\uXXXX`, `\\/`."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

_encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))


def dumps(obj) -> bytes:
    # `/` only ever occurs inside JSON strings, so a plain replace yields PHP's escaped slashes.
    return _encoder.encode(obj).replace("/", "\\/").encode("ascii")


@cache
def not_found_html() -> bytes:
    """The vendor's 404 page, byte for byte as captured."""
    return resources.files("qtickets_sandbox").joinpath("data/error_404_route.html").read_bytes()


FORBIDDEN = {"error": "Wrong authorization", "status": 403, "code": "WRONG_AUTHORIZATION", "info": []}
UNKNOWN_ERROR = {"error": "Unknown error", "status": 503, "code": "UNKNOWN_ERROR", "info": []}
# Seen for GET /orders with `where` in the query string: lower-case message and no `info` key.
UNKNOWN_ERROR_QUERY = {"error": "unknown error", "status": 503, "code": "UNKNOWN_ERROR"}
PARTNERS_WRONG_AUTH = {"status": "error", "code": "WRONG_AUTHORIZATION", "message": "Wrong authorization"}


def not_found(resource: str, ident: int) -> dict:
    return {
        "error": f'Resource "{resource}" not found',
        "status": 404,
        "code": "RESOURCE_NOT_FOUND",
        "info": {"id": ident, "resource": resource},
    }
