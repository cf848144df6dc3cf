"""Rows written straight through ``RowWriter`` by test fixtures, as kafka2cassandra
writes them: a batch the node timed out on is sent again.

On a loaded two-core machine the single node now and then answers a write with
``WriteTimeout``; the poller retries such a batch, and so must a fixture, or one slow
moment of the node fails every test of a module. A row written twice is one row (the
fixtures write with ids fixed by the line), so sending a batch again is safe.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from logpipe.cassandra import Row, is_rejection
from logpipe.cassandra.writer import RowWriter


def write_all(
    writer: RowWriter,
    batches: Iterable[Sequence[Row]],
    timeout: float = 120.0,
    attempts: int = 5,
) -> None:
    """Write every batch (each of one partition key). A batch refused for good, or still
    failing after ``attempts`` rounds, fails the caller."""
    pending = [list(batch) for batch in batches]
    for _attempt in range(attempts):
        failed: list[tuple[list[Row], BaseException]] = []
        for batch in pending:
            writer.submit(
                batch, lambda exc, _l, b=batch, f=failed: exc is None or f.append((b, exc))
            )
        assert writer.drain(timeout), "writes still in flight"
        refused = [exc for _batch, exc in failed if is_rejection(exc)]
        assert not refused, refused
        if not failed:
            return
        pending = [batch for batch, _exc in failed]
        time.sleep(1.0)
    raise AssertionError(f"{len(pending)} batches still failing: {failed[0][1]!r}")
