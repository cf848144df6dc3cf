"""``kafka2cassandra copy``: the rows of one table into another, with the fields parsed again.

Moving an existing tutorial table into a bucketed one (or a table made before the field
columns into one that has them): every row is read page by page (a scan in token order),
its raw line parsed again with the log format to fill the field columns, and written with
its own ``log_id``, ``log_datetime`` and write time, so copying a row twice writes the
same row. After each page is acknowledged the scan's paging state goes to a state file:
an interrupted copy started again resumes after the last page written. A target table
with a retention gets each row's remaining time from its line's time, and rows already
past it are not written (counted).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logpipe.cassandra import Row, RowWriter, Store
from logpipe.formats.parser import LineParser

COLUMNS = "log_source, log_type, log_id, log_datetime, log, writetime(log) AS written"


@dataclass
class CopyProgress:
    """Rows copied (written or past retention) so far, and whether the scan is done."""

    copied: int = 0
    expired: int = 0
    pages: int = 0
    resumed: bool = False
    done: bool = False


def default_state_file(keyspace: str, source: str, target: str) -> Path:
    return Path(f".kafka2cassandra-copy-{keyspace}-{source}-{target}.json")


def copy_table(
    store: Store,
    keyspace: str,
    source: str,
    target: str,
    state_file: Path,
    fmt: str = "combined",
    page_size: int = 1000,
    batch_rows: int = 32,
    on_page: Callable[[CopyProgress], None] | None = None,
    max_pages: int | None = None,
) -> CopyProgress:
    """Copy ``keyspace.source`` into ``keyspace.target``; resumes from ``state_file``.

    ``max_pages`` stops after that many pages (as an interruption would), leaving the
    state file to resume from. The state file is removed when the copy is complete.
    """
    if source == target:
        raise ValueError("copy needs two different tables")
    writer = store.writer(keyspace, table=target, log_id_mode="event")
    progress = CopyProgress()
    paging_state: bytes | None = None
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if (state.get("keyspace"), state.get("from"), state.get("to")) != (
            keyspace,
            source,
            target,
        ):
            raise ValueError(f"{state_file} is the state of another copy: {state}")
        paging_state = bytes.fromhex(state["paging_state"])
        progress.copied, progress.expired = state["copied"], state["expired"]
        progress.resumed = True
    parsers: dict[tuple[str, str], LineParser] = {}
    while True:
        rows, following = store.page(keyspace, source, COLUMNS, paging_state, page_size)
        _write(writer, [_row(r, parsers, fmt) for r in rows], batch_rows, progress)
        progress.pages += 1
        if following is None:
            progress.done = True
            state_file.unlink(missing_ok=True)
            if on_page is not None:
                on_page(progress)
            return progress
        paging_state = following
        _save(state_file, keyspace, source, target, following, progress)
        if on_page is not None:
            on_page(progress)
        if max_pages is not None and progress.pages >= max_pages:
            return progress


def _row(found: Any, parsers: dict[tuple[str, str], LineParser], fmt: str) -> Row:
    source, log_type = found.log_source, found.log_type
    parser = parsers.get((source, log_type))
    if parser is None:
        parser = parsers[(source, log_type)] = LineParser(
            fmt, source=source, type=log_type, timezone="UTC"
        )
    entry = parser.parse(found.log.encode())
    return Row(
        source,
        log_type,
        found.log_datetime,
        found.log,
        log_id=found.log_id,
        timestamp_us=found.written,
        fields=entry.fields,
        parse_error=entry.parse_error,
    )


def _write(writer: RowWriter, rows: list[Row], batch_rows: int, progress: CopyProgress) -> None:
    """Write one page (grouped by the target's partitions) and wait for all of it."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def done(exc: BaseException | None, _latency: float) -> None:
        if exc is not None:
            with lock:
                errors.append(exc)

    groups: dict[tuple[Any, ...], list[Row]] = {}
    for row in rows:
        if writer.expired(row):
            progress.expired += 1
            continue
        groups.setdefault(writer.partition_of(row), []).append(row)
    for group in groups.values():
        for start in range(0, len(group), batch_rows):
            writer.submit(group[start : start + batch_rows], done)
    if not writer.drain(300.0):
        raise TimeoutError("Cassandra did not acknowledge a page of rows within 300 s")
    if errors:
        raise RuntimeError(f"writing a page failed: {errors[0]}") from errors[0]
    progress.copied += sum(len(group) for group in groups.values())


def _save(
    path: Path,
    keyspace: str,
    source: str,
    target: str,
    paging_state: bytes,
    progress: CopyProgress,
) -> None:
    """Write the state atomically (a crash leaves the old state or the new one)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        json.dumps(
            {
                "keyspace": keyspace,
                "from": source,
                "to": target,
                "paging_state": paging_state.hex(),
                "copied": progress.copied,
                "expired": progress.expired,
            }
        )
    )
    os.replace(temporary, path)
