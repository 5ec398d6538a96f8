"""Errors that end a run with one clear message (no traceback, never the token)."""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class QTicketsError(FatalAPIError):
    """A QTickets problem the user must fix (bad token, wrong base_url, retries exhausted...)."""


class MethodNotAllowedError(QTicketsError):
    """Raised before any non-GET request leaves the process: QTickets POSTs create orders."""


class RetriesExhaustedError(QTicketsError):
    """Every attempt of a request failed with a retriable error (5xx, 429, timeout, dropped connection)."""
