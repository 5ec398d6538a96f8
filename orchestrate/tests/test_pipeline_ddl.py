"""Cluster-ready transforms: the `cluster` / `engine_flavour` settings (CLICKHOUSE_CLUSTER,
CLICKHOUSE_ENGINE_FLAVOUR) reach every DDL statement of transform/*.sql and transform/refresh/*.sql through
the `{{ on_cluster }}` and `{{ engine.<Engine>(args) }}` placeholders, and the embedded engine parses every
rendered statement (`EXPLAIN AST`: ON CLUSTER statements cannot run without a cluster, but they parse).

The refresh's own partition swaps (REPLACE/DROP PARTITION, TRUNCATE; marts.py) are data operations on
replicated tables, which replicate by themselves: they carry no ON CLUSTER."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from qtickets_pipeline import marts, sqlfiles, transforms, watermarks
from qtickets_pipeline.settings import SettingsError, load_settings
from qtickets_pipeline.warehouse import connect, connector

REPO = Path(__file__).resolve().parents[2]
DDL = re.compile(r"^\s*(CREATE|ALTER|DROP|RENAME)\b", re.I)
ENGINE = re.compile(r"ENGINE\s*=\s*(\w+)")


def rendered(settings) -> list[tuple[str, str]]:
    """(file, statement) for every statement of every transform and refresh file, as the pipeline renders
    them (the refresh files with the placeholders of an incremental refresh)."""
    names = {**transforms.template_names(settings), **watermarks.NONE.template_names(), "incremental": "1"}
    paths = [*sqlfiles.transform_files(settings.transform_dir), *marts.refresh_files(settings),
             settings.transform_dir / sqlfiles.SMOKE_FILE]
    return [(path.name, statement) for path in paths for statement in sqlfiles.load(path, names).statements]


@pytest.fixture
def clustered(settings):
    return replace(settings, cluster="analytics", engine_flavour="replicated")


@pytest.fixture(autouse=True)
def no_cluster_in_the_shell(monkeypatch):
    for variable in ("CLICKHOUSE_CLUSTER", "CLICKHOUSE_ENGINE_FLAVOUR"):
        monkeypatch.delenv(variable, raising=False)


@pytest.mark.unit
def test_split_statements_keeps_quoted_semicolons_and_drops_comments():
    sql = "-- head; comment\nSELECT 'a;b' -- tail;\n;\n\nSELECT \"x;\" ; -- only a comment\n"
    assert sqlfiles.split_statements(sql) == ["SELECT 'a;b'", 'SELECT "x;"']


@pytest.mark.unit
@pytest.mark.parametrize(("flavour", "expected"), [
    ("plain", "ENGINE = ReplacingMergeTree(updated_at) ORDER BY x"),
    ("cloud", "ENGINE = ReplacingMergeTree(updated_at) ORDER BY x"),
    ("replicated", "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', "
                   "'{replica}', updated_at) ORDER BY x"),
])
def test_engine_placeholders_render_per_flavour(flavour, expected):
    sql = "ENGINE = {{ engine.ReplacingMergeTree(updated_at) }} ORDER BY x"
    assert sqlfiles.render(sql, {"engine_flavour": flavour})[0] == expected
    assert sqlfiles.render("{{ engine.MergeTree }}", {"engine_flavour": flavour})[0].endswith(
        "MergeTree" if flavour != "replicated" else "'{replica}')")
    with pytest.raises(sqlfiles.TransformError, match="only engine placeholders"):
        sqlfiles.render("{{ database(x) }}", {"database": "zakaz"})


@pytest.mark.unit
def test_cluster_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("CLICKHOUSE_ENGINE_FLAVOUR", raising=False)
    monkeypatch.setenv("CLICKHOUSE_URL", f"chdb://{tmp_path / 'ch'}")
    monkeypatch.setenv("CLICKHOUSE_CLUSTER", "analytics")
    with pytest.raises(SettingsError, match=r"CLICKHOUSE_CLUSTER.*CLICKHOUSE_ENGINE_FLAVOUR"):
        load_settings(environment="demo", project_root=REPO)  # a plain table on a cluster: refused
    monkeypatch.setenv("CLICKHOUSE_ENGINE_FLAVOUR", "replicated")
    settings = load_settings(environment="demo", project_root=REPO)
    assert (settings.cluster, settings.engine_flavour) == ("analytics", "replicated")
    assert connector(settings).engine_options.cluster == "analytics"
    monkeypatch.setenv("CLICKHOUSE_ENGINE_FLAVOUR", "sharded")
    with pytest.raises(SettingsError, match="CLICKHOUSE_ENGINE_FLAVOUR"):
        load_settings(environment="demo", project_root=REPO)


@pytest.mark.unit
def test_every_ddl_statement_runs_on_the_cluster_with_replicated_engines(clustered):
    statements = rendered(clustered)
    ddl = [(name, s) for name, s in statements if DDL.match(s)]
    assert len(ddl) >= 20
    assert [name for name, s in ddl if " ON CLUSTER `analytics`" not in s] == []
    engines = [engine for _, s in statements for engine in ENGINE.findall(s)]
    assert engines and all(engine.startswith("Replicated") for engine in engines), engines


@pytest.mark.unit
def test_plain_and_cloud_flavours_leave_the_engines_to_the_server(settings):
    for flavour in ("plain", "cloud"):
        statements = rendered(replace(settings, engine_flavour=flavour))
        assert not any("ON CLUSTER" in s or "Replicated" in s for _, s in statements)


@pytest.mark.integration
@pytest.mark.parametrize("flavour", ["replicated", "cloud"])
def test_the_embedded_engine_parses_every_rendered_statement(clustered, flavour):
    cluster = "analytics" if flavour == "replicated" else None
    settings = replace(clustered, engine_flavour=flavour, cluster=cluster)
    with connect(replace(settings, cluster=None)) as client:  # opening runs DDL: on this one server
        for name, statement in rendered(settings):
            ast = client.query(f"EXPLAIN AST {statement}").result_rows
            assert ast and ast[0][0].split()[0].endswith("Query"), (name, statement[:200])
