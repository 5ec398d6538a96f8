"""The warehouse's step after every load: target-clickhouse calls `refresh_warehouse` (its `after_load`
setting in meltano.yml) once every row of the load is inserted and before it records the load successful.

So whichever way the load was started — `meltano run tap-qtickets target-clickhouse`, the job, a schedule,
`qtickets-pipeline run` — the views show its rows when it ends, in the same process and over the same
connection: the model files are applied if they changed, the marts are refreshed (transforms.py), and
the report is redrawn when what the views show may have changed. A failure here fails the load, so its
bookmark is not saved and the next load reads the same changes again.
"""

from __future__ import annotations

import typing as t

from . import logs, report, transforms
from .settings import Settings, load_settings

if t.TYPE_CHECKING:
    from target_clickhouse import ClickHouseConnector, LoadSummary

log = logs.get("after_load")  # in the target's process: the SDK's handlers (Meltano reads them as JSON)


def settings_for(connector: ClickHouseConnector) -> Settings:
    """The pipeline's settings in the target's process, for the warehouse the target loaded (its URL,
    database and DDL flavour are the target's, whatever the variables say)."""
    return load_settings(overrides={
        "CLICKHOUSE_URL": connector.url, "CLICKHOUSE_DATABASE": connector.database,
        "CLICKHOUSE_CLUSTER": connector.cluster or "", "CLICKHOUSE_ENGINE_FLAVOUR": connector.engine_flavour,
    })


def refresh_warehouse(connector: ClickHouseConnector, load: LoadSummary, *, settings: Settings | None = None,
                      redraw_report: bool = True) -> transforms.Outcome:
    """`settings`: the caller's (the webhook receiver's, read with its --env file), else the target's
    process's; `redraw_report` False leaves the HTML report for later (webhook batches redraw it now and
    then)."""
    settings = settings or settings_for(connector)
    client = connector.client
    outcome = transforms.bring_up_to_date(client, settings)
    if redraw_report:
        report.refresh(client, settings)
    log.info("warehouse up to date after load %s (%s)", load.run_id,
             "marts refreshed" if outcome.changed else "nothing new")
    return outcome
