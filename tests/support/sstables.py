"""Cassandra's own per-partition statistics of a table, for tests on the local node.

The table's memtable is flushed through CQL (``memtable_flush_period_in_ms``: the node
flushes it by itself a second later; the local node has no JMX for ``nodetool flush``),
then Cassandra's ``sstablepartitions`` tool (``org.apache.cassandra.tools.SSTablePartitions``
of the node's own jar) reads every partition of the table's SSTables and reports its size
and row count. A partition found in several SSTables is summed (an upper bound of its
merged size). Only for a node on this machine: it reads the node's data directory, which
Cassandra names in ``system_views.settings``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from logpipe.cassandra import Store
from tests.support.paths import ROOT

_PARTITION = re.compile(
    r"Partition: '(?P<key>.*)' \([^)]*\) (?:live|deleted), size: (?P<size>[\d.]+) "
    r"(?P<unit>\w+), rows: (?P<rows>\d+)"
)
_UNITS = {"bytes": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


@dataclass(frozen=True)
class PartitionStats:
    key: str
    size_bytes: int
    rows: int


def _cassandra_lib() -> Path:
    cache = Path(os.environ.get("LOGPIPE_SERVICES_CACHE", ROOT / "services" / ".cache"))
    return cache / "cassandra" / "lib"


def _jvm_flags() -> list[str]:
    """The --add-exports/--add-opens the node itself runs with (the tool needs them)."""
    options = ROOT / "services" / "conf" / "cassandra" / "jvm.options"
    flags: list[str] = []
    for line in options.read_text().splitlines():
        if line.startswith(("--add-exports", "--add-opens")):
            flags += line.split()
    return flags


def _table_dirs(store: Store, keyspace: str, table: str) -> list[Path]:
    row = store.session.execute(
        "SELECT value FROM system_views.settings WHERE name = 'data_file_directories'"
    ).one()
    roots = [Path(p.strip()) for p in row.value.strip("[]").split(",") if p.strip()]
    table_id = store.session.execute(
        "SELECT id FROM system_schema.tables WHERE keyspace_name = %s AND table_name = %s",
        (keyspace, table),
    ).one()[0]
    suffix = str(table_id).replace("-", "")
    return [root / keyspace / f"{table}-{suffix}" for root in roots]


def flush(store: Store, keyspace: str, table: str, rows: int, timeout: float = 60.0) -> None:
    """Have the node flush the table, and wait until its SSTables hold ``rows`` rows."""
    store.session.execute(f"ALTER TABLE {keyspace}.{table} WITH memtable_flush_period_in_ms = 1000")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.5)
        if sum(p.rows for p in partition_stats(store, keyspace, table)) >= rows:
            return
    raise AssertionError(f"{keyspace}.{table}: {rows} rows not flushed within {timeout} s")


def partition_stats(store: Store, keyspace: str, table: str) -> list[PartitionStats]:
    """Every partition of the table's SSTables, as ``sstablepartitions`` reports it."""
    files = [str(f) for d in _table_dirs(store, keyspace, table) for f in d.glob("*-Data.db")]
    if not files:
        return []
    java = os.environ.get("LOGPIPE_JAVA") or shutil.which("java") or "java"
    result = subprocess.run(
        [java, *_jvm_flags(), "-cp", f"{_cassandra_lib()}/*",
         "org.apache.cassandra.tools.SSTablePartitions", "--min-size", "0", *files],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    sizes: dict[str, list[int]] = {}
    for found in _PARTITION.finditer(result.stdout):
        size = int(float(found["size"]) * _UNITS[found["unit"]])
        totals = sizes.setdefault(found["key"], [0, 0])
        totals[0] += size
        totals[1] += int(found["rows"])
    return [PartitionStats(key, size, rows) for key, (size, rows) in sizes.items()]
