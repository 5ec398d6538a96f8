"""Authentication for the QTickets REST API (one organiser token, sent as a Bearer header)."""

from __future__ import annotations

from singer_sdk.authenticators import BearerTokenAuthenticator


class QTicketsAuthenticator(BearerTokenAuthenticator):
    """`Authorization: Bearer <api_token>`; the token never leaves this header."""

    def __init__(self, token: str) -> None:
        super().__init__(token=token)

    def __repr__(self) -> str:  # keep the token out of any debug output
        return "QTicketsAuthenticator(token=***)"
