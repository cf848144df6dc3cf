"""Real access-log lines replayed as live traffic, each made unique and current.

The demo, the end-to-end fault run and the benchmarks all need "Apache writing a log
right now": real lines (so the parser sees what production sees) stamped with the
current time (so time-window queries find them) and a sequence number in the query
string (so each line can be traced from the file to its row).
"""

from __future__ import annotations

import gzip
import re
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

_TIME_FIELD = re.compile(rb"\[[^\]]*\]")
_REQUEST_PATH = re.compile(rb'"([A-Z]+) (\S+)')
MARK = re.compile(r"[?&]logpipe_seq=([0-9a-z]+)-(\d+)")


def stamp(line: bytes, run: str, seq: int, now: datetime | None = None) -> bytes:
    """``line`` with its request time set to ``now`` and ``logpipe_seq=RUN-SEQ`` in its path."""
    when = (now or datetime.now(UTC)).strftime("[%d/%b/%Y:%H:%M:%S +0000]").encode()
    line = _TIME_FIELD.sub(when, line, count=1)

    def mark(match: re.Match[bytes]) -> bytes:
        sep = b"&" if b"?" in match.group(2) else b"?"
        return b'"%s %s%slogpipe_seq=%s-%d' % (
            match.group(1),
            match.group(2),
            sep,
            run.encode(),
            seq,
        )

    return _REQUEST_PATH.sub(mark, line, count=1)


def sequence_of(log: str, run: str) -> int | None:
    """The sequence number ``stamp`` put into a line of this run, or None."""
    match = MARK.search(log)
    if match is None or match.group(1) != run:
        return None
    return int(match.group(2))


def load_lines(path: Path) -> list[bytes]:
    """The lines of a corpus file (without newlines) that carry a request to mark."""
    return [line for line in path.read_bytes().splitlines() if _REQUEST_PATH.search(line)]


class LogWriter:
    """Appends stamped lines to a log file at a steady rate, like Apache would.

    Rotation runs under the same lock as the writes, the way logrotate and Apache
    cooperate: ``rotate_rename`` moves the file away and the writer opens a new one;
    ``rotate_copytruncate`` copies the file and truncates it in place; ``rotate_logrotate``
    shifts the numbered files as Debian's logrotate does (optionally compressing them).
    ``appended`` maps each sequence number to the wall-clock time it was written;
    ``suffix`` (optional) gives bytes to add to the line of a sequence number (a NUL run,
    invalid UTF-8...) after its stamp, so even a hostile line stays traceable.
    """

    def __init__(
        self,
        path: Path,
        corpus: Sequence[bytes],
        run: str,
        rate: float,
        choose: Callable[[int], Path] | None = None,
        suffix: Callable[[int], bytes] | None = None,
    ) -> None:
        self.path = path
        self.corpus = corpus
        self.run = run
        self.rate = rate
        self.suffix = suffix
        self.appended: dict[int, float] = {}
        #: Sequence numbers a copytruncate lost (written between the copy and the truncate).
        self.lost_in_rotation: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._handle = path.open("ab", buffering=0)
        self._thread = threading.Thread(target=self._loop, name="log-writer", daemon=True)
        self._rotations = 0
        self._seq = 0

    def start(self) -> LogWriter:
        self._thread.start()
        return self

    def _loop(self) -> None:
        begin = time.monotonic()
        written = 0
        while not self._stop.is_set():
            delay = begin + written / self.rate - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            with self._lock:
                self._write_one()
            written += 1

    def _write_one(self) -> int:
        """Append the next line (the lock is held); return its sequence number."""
        seq = self._seq
        line = stamp(self.corpus[seq % len(self.corpus)], self.run, seq)
        if self.suffix is not None:
            line += self.suffix(seq)
        self._handle.write(line + b"\n")
        self.appended[seq] = time.time()
        self._seq += 1
        return seq

    def stop(self) -> int:
        """Stop writing; return the number of lines written."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        with self._lock:
            self._handle.close()
        return len(self.appended)

    def rotate_rename(self) -> Path:
        """``mv access.log access.log.N`` then a new ``access.log`` (the old one is kept)."""
        with self._lock:
            self._rotations += 1
            target = self.path.with_name(f"{self.path.name}.{self._rotations}")
            self.path.rename(target)
            self._handle.close()
            self._handle = self.path.open("ab", buffering=0)
            return target

    def rotate_copytruncate(self, lose: int = 0) -> Path:
        """logrotate's copytruncate: copy the file aside, then truncate it in place.

        ``lose`` lines are written between the copy and the truncate: what a real
        copytruncate loses (they are in neither file), listed in ``lost_in_rotation``.
        """
        with self._lock:
            self._rotations += 1
            target = self.path.with_name(f"{self.path.name}.{self._rotations}")
            target.write_bytes(self.path.read_bytes())
            for _ in range(lose):
                self.lost_in_rotation.append(self._write_one())
            self._handle.truncate(0)
            return target

    def rotate_logrotate(self, compress: bool = False, delaycompress: bool = True) -> Path:
        """Debian's logrotate with ``create``: ``access.log.N[.gz]`` becomes ``N+1``,
        ``access.log`` becomes ``access.log.1`` and a new ``access.log`` is opened.

        With ``compress``, rotated files are gzipped (and the plain file removed):
        ``access.log.2`` right away with ``delaycompress`` (Debian's default for Apache),
        else ``access.log.1`` itself. Returns the path the current file was moved to.
        """
        with self._lock:
            self._rotations += 1
            self._shift_numbered()
            first = self.path.with_name(f"{self.path.name}.1")
            self.path.rename(first)
            self._handle.close()
            self._handle = self.path.open("ab", buffering=0)
            if compress:
                _gzip_away(self.path.with_name(f"{self.path.name}.{2 if delaycompress else 1}"))
            return first

    def _shift_numbered(self) -> None:
        """``access.log.N`` and ``access.log.N.gz`` to ``N+1``, highest first."""
        numbered: list[tuple[int, Path]] = []
        prefix = self.path.name + "."
        for entry in self.path.parent.iterdir():
            rest = entry.name.removeprefix(prefix) if entry.name.startswith(prefix) else ""
            number = rest.removesuffix(".gz")
            if number.isdigit():
                numbered.append((int(number), entry))
        for number, entry in sorted(numbered, reverse=True):
            tail = ".gz" if entry.name.endswith(".gz") else ""
            entry.rename(entry.with_name(f"{prefix}{number + 1}{tail}"))


def _gzip_away(path: Path) -> None:
    """``gzip path``: ``path.gz`` written, then ``path`` removed (if there is a ``path``)."""
    if not path.exists():
        return
    with path.open("rb") as source, gzip.open(path.with_name(path.name + ".gz"), "wb") as out:
        shutil.copyfileobj(source, out)
    path.unlink()
