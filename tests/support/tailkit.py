"""Helpers for the tailer tests: a fast-ticking Tailer, a collector, a sequenced writer."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from logpipe.logs2kafka.checkpoint import CheckpointStore
from logpipe.logs2kafka.tail import Line, Tailer

FAST = {
    "rescan_interval": 0.05,
    "flush_interval": 0.05,
    "close_rotated_after": 0.3,
    "partial_line_timeout": 0.2,
    "wait_interval": 0.01,
}

LINE_RE = re.compile(rb"^seq=(\d{6}) [a-z]+$")


def make_tailer(patterns: list[str] | str, state_dir: Path, **kwargs: object) -> Tailer:
    options = {**FAST, **kwargs}
    return Tailer(
        patterns if isinstance(patterns, list) else [patterns],
        CheckpointStore(state_dir),
        **options,
    )  # type: ignore[arg-type]


def seq_line(n: int) -> bytes:
    return b"seq=%06d %s\n" % (n, b"abcdefghij"[: 1 + n % 10])


class Collector:
    """Polls a tailer, acks every line (unless told not to), keeps them in order."""

    def __init__(self, tailer: Tailer, ack: bool = True) -> None:
        self.tailer = tailer
        self.ack = ack
        self.lines: list[Line] = []
        self.paused = threading.Event()  # set: do not poll (the tailer falls behind)

    def step(self, max_lines: int = 1000) -> list[Line]:
        if self.paused.is_set():
            time.sleep(0.005)
            return []
        got = self.tailer.poll(max_lines)
        for line in got:
            if self.ack:
                self.tailer.ack(line.file_id, line.end_offset)
        self.lines.extend(got)
        if not got:
            self.tailer.wait(0.02)
        return got

    def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, f"timed out with {len(self.lines)} lines"
            self.step()

    def settle(self, quiet: float = 0.5, timeout: float = 8.0) -> None:
        """Poll until nothing new arrived for ``quiet`` seconds."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() - last < quiet:
            assert time.monotonic() < deadline, "never settled"
            if self.step():
                last = time.monotonic()

    @property
    def data(self) -> list[bytes]:
        return [line.data for line in self.lines]


def seqs(lines: list[Line]) -> list[int]:
    out = []
    for line in lines:
        m = LINE_RE.match(line.data)
        assert m, f"damaged line {line.data!r}"
        out.append(int(m.group(1)))
    return out


def assert_exactly_once_in_order(lines: list[Line], total: int) -> None:
    """Every sequence number 0..total-1 once, increasing within each file."""
    numbers = seqs(lines)
    assert sorted(numbers) == list(range(total)), (
        f"missing {sorted(set(range(total)) - set(numbers))[:10]}, "
        f"{len(numbers) - len(set(numbers))} duplicates"
    )
    per_file: dict[str, list[int]] = {}
    for line, n in zip(lines, numbers, strict=True):
        per_file.setdefault(line.file_id, []).append(n)
    for file_id, ns in per_file.items():
        assert ns == sorted(ns), f"out of order in {file_id}"
    for line in lines:
        assert not line.truncated


class Writer(threading.Thread):
    """Appends sequenced lines to ``path`` like a web server, rotating at ``rotate_at``.

    ``rotate`` is called in this thread (like logrotate between two requests) with the
    open file object; it returns the file object to keep writing to.
    """

    def __init__(
        self,
        path: Path,
        total: int,
        rotate_at: list[int],
        rotate: Callable[[object, int], object],
        pause: float = 0.0004,
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.rotate_at = set(rotate_at)
        self.rotate = rotate
        self.pause = pause
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            fh = open(self.path, "ab", buffering=0)  # noqa: SIM115
            for n in range(self.total):
                if n in self.rotate_at:
                    fh = self.rotate(fh, n)
                fh.write(seq_line(n))
                if n % 20 == 0:
                    time.sleep(self.pause * 20)
            fh.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def logrotate_rename(log: Path) -> None:
    """What logrotate's ``create`` does to ``log``'s generations: ``access.log.N`` (or
    ``.N.gz``) becomes ``.N+1``, oldest first, and the log itself ``access.log.1``."""
    _shift_generations(log)
    os.rename(log, log.with_name(f"{log.name}.1"))


def logrotate_copy(log: Path) -> None:
    """logrotate's ``copytruncate``: the generations shifted, the log copied to
    ``access.log.1``, then truncated in place (its writer keeps its descriptor)."""
    _shift_generations(log)
    shutil.copyfile(log, log.with_name(f"{log.name}.1"))
    os.truncate(log, 0)


def logrotate_compress(log: Path, generation: int) -> None:
    """logrotate's ``compress``: generation ``N`` gzipped to ``.N.gz``, the plain one
    removed (``delaycompress`` compresses generation 2, else generation 1)."""
    plain = log.with_name(f"{log.name}.{generation}")
    if plain.exists():
        with open(plain, "rb") as src, gzip.open(f"{plain}.gz", "wb") as dst:
            shutil.copyfileobj(src, dst)
        plain.unlink()


def _shift_generations(log: Path) -> None:
    """``access.log.N`` (or ``.N.gz``) renamed ``.N+1``, oldest first."""
    pattern = re.compile(re.escape(log.name) + r"\.(\d+)(\.gz)?")
    generations = []
    for path in log.parent.iterdir():
        match = pattern.fullmatch(path.name)
        if match:
            generations.append((int(match.group(1)), match.group(2) or "", path))
    for n, gz, path in sorted(generations, reverse=True):
        os.rename(path, log.with_name(f"{log.name}.{n + 1}{gz}"))
