"""Which account a webhook URL belongs to, and the secrets its signatures may be made with.

- `POST /qtickets/webhook` is tap-qtickets's account; `POST /qtickets/webhook/<account>` any account of
  meltano.yml by its `account` name (accounts.account_names), tap-qtickets's included.
- tap-qtickets's secret is `QTICKETS_WEBHOOK_SECRET` (required to serve); another account's is
  `QTICKETS_WEBHOOK_SECRET_<ACCOUNT>` (upper case, `-` → `_`; unset: its URL answers 404).
- Rotation: `<variable>_PREVIOUS` is accepted as well while it is set (docs/production.md).

A signature is the lowercase hex HMAC-SHA1 of the raw body with the secret (qtickets-api.md §11), compared
in constant time with every accepted secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

from ..accounts import BASE, account_names
from ..settings import Settings, SettingsError

SECRET_VARIABLE = "QTICKETS_WEBHOOK_SECRET"
PREVIOUS = "_PREVIOUS"


def secret_variable(account: str, base_account: str) -> str:
    if account == base_account:
        return SECRET_VARIABLE
    return f"{SECRET_VARIABLE}_{account.upper().replace('-', '_')}"


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@dataclass(frozen=True)
class Endpoint:
    account: str
    plugin: str  # its extractor in meltano.yml
    secrets: tuple[str, ...] = field(repr=False)  # current first, then the previous one (rotation)

    def verifies(self, body: bytes, given: str | None) -> bool:
        if not given:
            return False
        received = given.strip().lower().encode("utf-8", "replace")
        matched = False
        for secret in self.secrets:  # every secret is tried: the time taken does not say which matched
            matched |= hmac.compare_digest(received, signature(body, secret).encode())
        return matched


@dataclass(frozen=True)
class Endpoints:
    base: Endpoint  # tap-qtickets's, at /qtickets/webhook
    by_account: dict[str, Endpoint]
    unset: tuple[str, ...]  # the variables of accounts without a secret (their URLs answer 404)

    def find(self, account: str | None) -> Endpoint | None:
        return self.base if account is None else self.by_account.get(account)

    @property
    def secrets(self) -> list[str]:
        return [secret for endpoint in self.by_account.values() for secret in endpoint.secrets]


def endpoints(settings: Settings) -> Endpoints:
    """Every account's endpoint; SettingsError naming QTICKETS_WEBHOOK_SECRET when it is unset."""
    names = account_names(settings)
    base_account = next((name for name, plugin in names.items() if plugin == BASE), None)
    if base_account is None:
        raise SettingsError("meltano.yml has no tap-qtickets extractor: there is no account to receive for")
    found: dict[str, Endpoint] = {}
    unset = []
    for account, plugin in names.items():
        variable = secret_variable(account, base_account)
        current = settings.env.get(variable, "").strip()
        if not current:
            if account == base_account:
                raise SettingsError(f"{variable} is not set: the shared secret QTickets signs webhooks with "
                                    "(cabinet → Settings → Webhooks); set it in .env")
            unset.append(variable)
            continue
        previous = settings.env.get(variable + PREVIOUS, "").strip()
        found[account] = Endpoint(account, plugin, (current, previous) if previous else (current,))
    return Endpoints(found[base_account], found, tuple(unset))
