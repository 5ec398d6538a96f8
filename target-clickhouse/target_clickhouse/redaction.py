"""Secrets out of every text shown or stored: URL credentials and known secret values.

The one redaction helper of the project (the pipeline imports it too).
"""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")
MIN_SECRET_CHARS = 3  # shorter values would blank out ordinary words


def redact_url(url: str) -> str:
    """Drop `user:pass@` from a URL (or from every URL in a text) so it can be logged or shown."""
    return _USERINFO.sub("***@", url)


def redact(text: str, *secrets: str | None) -> str:
    """`text` with URL credentials and each given secret value replaced by ***."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, "***")
    return redact_url(text)
