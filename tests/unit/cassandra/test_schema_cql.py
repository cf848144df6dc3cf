"""The schema file: one canonical copy, packaged, and substituted correctly."""

from __future__ import annotations

import pytest

from logpipe.cassandra import Replication, schema_statements, schema_text
from tests.support.paths import ROOT

ROOT = ROOT


def test_top_level_schema_is_the_packaged_file():
    top = ROOT / "cql" / "schema.cql"
    assert top.is_symlink()
    assert top.resolve() == (ROOT / "src" / "logpipe" / "cql" / "schema.cql").resolve()
    assert top.read_text(encoding="utf-8") == schema_text()


def test_file_is_the_design_table_for_the_local_node():
    text = " ".join(schema_text().split())
    assert "CREATE KEYSPACE IF NOT EXISTS admintome" in text
    assert "'replication_factor': 1" in text
    assert "CREATE TABLE IF NOT EXISTS admintome.logs" in text
    assert "PRIMARY KEY ((log_source, log_type), log_id)" in text
    assert "CLUSTERING ORDER BY (log_id DESC)" in text
    for column in ("log_source text", "log_type text", "log_id timeuuid", "log text"):
        assert column in text


def test_simple_strategy_substitution():
    statements = schema_statements("logs_test", Replication.parse(3))
    assert len(statements) == 7
    assert statements[0] == (
        "CREATE KEYSPACE IF NOT EXISTS logs_test WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': 3} AND durable_writes = true"
    )
    assert statements[1].startswith("CREATE TABLE IF NOT EXISTS logs_test.logs (")
    assert statements[2].startswith("ALTER TABLE logs_test.logs ADD IF NOT EXISTS (")
    assert "admintome" not in " ".join(statements)


def test_network_topology_substitution():
    replication = Replication.parse(None, ["dc1:3", "dc2:2"])
    statement = schema_statements("admintome", replication)[0]
    assert "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}" in statement
    assert replication.as_map()["dc2"] == "2"


def test_default_replication_is_one():
    assert Replication.parse(None).factor == 1


@pytest.mark.parametrize(
    ("factor", "dcs"), [(0, ()), (2, ("dc1:3",)), (None, ("dc1",)), (None, ("dc1:x",))]
)
def test_bad_replication_is_refused(factor, dcs):
    with pytest.raises(ValueError):
        Replication.parse(factor, dcs)


@pytest.mark.parametrize("name", ["1abc", "a-b", "ks; DROP TABLE x", ""])
def test_bad_keyspace_names_are_refused(name):
    with pytest.raises(ValueError):
        schema_statements(name, Replication.parse(1))
