"""The QTickets accounts a project loads: `tap-qtickets`, and every extractor of meltano.yml that inherits
from it, each with its own token (and base URL), its own bookmark and its own `account` name in the
warehouse. Adding an account is Meltano-native plugin inheritance:

    - name: tap-qtickets--spb
      inherit_from: tap-qtickets
      config:
        account: spb
        api_token: $QTICKETS_SPB_TOKEN

`qtickets-pipeline run` loads every account, one `meltano run <extractor> target-clickhouse` each, so one
account failing (a revoked token) neither loses nor blocks the others' data.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .settings import Settings, SettingsError

BASE = "tap-qtickets"
DEFAULT_ACCOUNT = "main"  # the tap's default `account` (tap_qtickets.schemas.DEFAULT_ACCOUNT)


@dataclass(frozen=True)
class Account:
    plugin: str  # the Meltano extractor: tap-qtickets or one inheriting from it

    @property
    def env_prefix(self) -> str:
        """Meltano's prefix for this extractor's own variables (`TAP_QTICKETS__SPB`)."""
        return self.plugin.upper().replace("-", "_")

    @property
    def catalog_variable(self) -> str:
        return f"{self.env_prefix}__CATALOG"


def _extractors(settings: Settings) -> list[dict]:
    try:
        project = yaml.safe_load((settings.project_root / "meltano.yml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"meltano.yml cannot be read: {exc}") from None
    return [e for e in (project.get("plugins") or {}).get("extractors") or [] if isinstance(e, dict)]


def project_accounts(settings: Settings) -> list[Account]:
    """tap-qtickets and its heirs in meltano.yml, in file order."""
    extractors = _extractors(settings)
    parents = {e.get("name"): e.get("inherit_from") for e in extractors}

    def loads_qtickets(name: str | None, depth: int = 0) -> bool:
        return name == BASE or (depth < 10 and name in parents and loads_qtickets(parents[name], depth + 1))

    return [Account(name) for name in parents if isinstance(name, str) and loads_qtickets(name)]


def chosen(settings: Settings, names: tuple[str, ...]) -> list[Account]:
    """The accounts `--account` names (extractor names; all of them when none)."""
    every = project_accounts(settings)
    if not names:
        return every
    known = {account.plugin: account for account in every}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SettingsError(f"--account {unknown[0]!r} is not an extractor of meltano.yml that loads "
                            f"QTickets; known: {', '.join(known)}")
    return [known[name] for name in names]


def account_names(settings: Settings) -> dict[str, str]:
    """Each account's name in the warehouse (its records' `account`) → its extractor. An extractor's own
    `config: account:` in meltano.yml (a `$VARIABLE` there is read from the settings), else its parent's;
    tap-qtickets's is QTICKETS_ACCOUNT, else the tap's default `main`."""
    configs = {e.get("name"): (e.get("inherit_from"), (e.get("config") or {}).get("account"))
               for e in _extractors(settings)}

    def name_of(plugin: str | None, depth: int = 0) -> str:
        parent, value = configs.get(plugin, (None, None))
        text = str(value or "").strip()
        if text.startswith("$"):
            text = settings.env.get(text.lstrip("${").rstrip("}"), "").strip()
        if text:
            return text
        return name_of(parent, depth + 1) if parent and depth < 10 else DEFAULT_ACCOUNT

    return {name_of(account.plugin): account.plugin for account in project_accounts(settings)}
