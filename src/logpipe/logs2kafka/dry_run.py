"""``--dry-run``: envelopes on stdout instead of Kafka, and checkpoints left untouched.

Everything a dry run changes lives here: the producer that prints (and acknowledges at
once, so the same Pipeline runs unchanged) and the scratch copy of the checkpoints.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from logpipe.kafka import CLIENT_MAX_REQUEST_BYTES, NO_TOKEN


class PrintProducer:
    """``--dry-run``: writes each envelope as one line to a stream and acknowledges it."""

    def __init__(self, stream: BinaryIO, topic: str = "-") -> None:
        self.topic = topic
        self._stream = stream
        #: No broker to ask: what the default client would send at most.
        self.max_message_bytes = CLIENT_MAX_REQUEST_BYTES["kafka-python"]

    def send(
        self, key: bytes, value: bytes, on_ack: Callable[..., None], token: Any = NO_TOKEN
    ) -> None:
        self._stream.write(value + b"\n")
        if token is NO_TOKEN:
            on_ack(None)
        else:
            on_ack(None, token)

    def poll(self, timeout: float = 0.0) -> None:
        return None

    def flush(self, timeout: float | None = None) -> bool:
        self._stream.flush()
        return True

    def close(self, timeout: float = 5.0) -> None:
        self._stream.flush()


def stdout_binary() -> BinaryIO:
    """Where a dry run prints, looked up when the producer opens rather than at import
    (click's test runner swaps ``sys.stdout``)."""
    return sys.stdout.buffer


@contextlib.contextmanager
def dry_run_state(state_dir: Path) -> Iterator[Path]:
    """A scratch copy of the checkpoints: a dry run starts where a real run would, and
    moves no real checkpoint (lines it printed were not shipped)."""
    scratch = Path(tempfile.mkdtemp(prefix="logs2kafka-dry-run-"))
    try:
        if state_dir.is_dir():
            shutil.copytree(state_dir, scratch, dirs_exist_ok=True)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
