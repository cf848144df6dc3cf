"""Taking lines from the open files for one poll, and finishing files rotated away.

* Rotated files are read first (finish the old before the new), then the current ones
  in turn (round-robin), so one busy file cannot starve the others.
* Rename + create: the old file is still open, so it is read to its end (and kept open for
  ``close_rotated_after`` seconds of silence, for a writer that has not reopened yet);
  its unfinished last line is handed out after ``partial_line_timeout``.  Delete +
  recreate and a file missing for a while work the same way.
* Copytruncate: the size shrinking below our offset, or the first bytes changing,
  restarts the file at 0 under a new identity (``CopyTruncate.truncated``); ``check``
  looks for it on every rescan even while no lines are taken (the pending bound full).
* Every line handed out is recorded in its file's ack tracker (``Positions``).
"""

from __future__ import annotations

from logpipe.logs2kafka.tail.copytruncate import CopyTruncate
from logpipe.logs2kafka.tail.files import OpenFiles
from logpipe.logs2kafka.tail.positions import Positions
from logpipe.logs2kafka.tail.reader import FileReader, Line
from logpipe.observability import get_logger

log = get_logger("tail")


class Harvester:
    """Reads the open files in turn for ``poll``; tells ``wait`` whether work is ready."""

    def __init__(
        self,
        files: OpenFiles,
        positions: Positions,
        copies: CopyTruncate,
        *,
        partial_line_timeout: float,
        close_rotated_after: float,
    ) -> None:
        self._files = files
        self._positions = positions
        self._copies = copies
        self.partial_line_timeout = partial_line_timeout
        self.close_rotated_after = max(close_rotated_after, partial_line_timeout)
        self._rr = 0  # round-robin start among current files
        # Lines taken out of a file by ``check`` (its last ones, as it was truncated):
        # recorded as sent, handed out first by the next ``collect``.
        self._carry: list[Line] = []

    def collect(self, out: list[Line], max_lines: int, now: float) -> None:
        """Append up to ``max_lines`` lines ready now, oldest file first."""
        if self._carry:
            room = max_lines - len(out)
            out.extend(self._carry[:room])
            del self._carry[:room]
        for reader in self._reading_order():
            if len(out) >= max_lines:
                break
            self._service(reader, out, max_lines, now)

    def check(self) -> None:
        """Notice truncated files now, without reading (the pending bound may be full).

        Called on every rescan, so a copytruncate is seen while its copy is still there
        to continue the file's unread lines, however long lines are not taken.  Costs an
        ``fstat`` per file (and a fingerprint read if its size changed).
        """
        carry = self._carry
        for reader in list(self._files):
            if reader.copy_of is not None or reader.fd < 0:
                continue
            seen = reader.size
            try:
                reader.refresh_size()
                if reader.content_replaced():
                    first = len(carry)
                    self._copies.truncated(reader, carry, seen)
                    self._positions.record_sent(reader, carry, first)
            except OSError:
                continue  # reading it says so (and retries)

    def work_ready(self, now: float) -> bool:
        """Could a poll find something now (new bytes, a held copy or a rotated file due)?"""
        if self._carry:
            return True
        for reader in list(self._files):
            if reader.copy_of is not None:
                if now >= reader.copy_until:
                    return True
                continue
            if reader.error is not None:
                continue  # retried by the next poll (a rescan is due every second)
            try:
                reader.refresh_size()
            except OSError:
                continue
            if reader.has_backlog or reader.size < reader.read_pos:
                return True
            if not reader.current and now - self._idle_since(reader) >= self._due(reader):
                return True
        return False

    def _reading_order(self) -> list[FileReader]:
        """Rotated files first (finish the old before the new), then current round-robin."""
        readers = list(self._files)
        rotated = sorted((r for r in readers if not r.current), key=lambda r: r.rotated_at or 0.0)
        current = [r for r in readers if r.current]
        if len(current) > 1:
            self._rr = (self._rr + 1) % len(current)
            current = current[self._rr :] + current[: self._rr]
        return rotated + current

    def _service(self, reader: FileReader, out: list[Line], limit: int, now: float) -> None:
        first = len(out)
        if reader.copy_of is not None:
            if not reader.current:  # a possible copy that went away
                self._close(reader, deleted=True)
                return
            if now < reader.copy_until:
                return
            self._copies.release(reader, now)
        try:
            seen = reader.size
            st = reader.refresh_size()
            # A file whose lines continue in a copy is read again from the next poll:
            # the copy (a rotated file, read first) holds the older lines.
            if not (reader.content_replaced() and self._copies.truncated(reader, out, seen)):
                reader.read(out, limit, now)
        except OSError as exc:
            message = f"{type(exc).__name__}: {exc}"
            if reader.error != message:
                reader.error = message
                log.warning("error reading %s: %s (will retry)", reader.path, message)
            st = None
        else:
            if reader.error is not None:
                reader.error = None
                log.info("file %s can be read again", reader.path)
        if not reader.current and st is not None and not reader.has_backlog and len(out) < limit:
            idle = now - self._idle_since(reader)
            if reader.has_partial:
                if idle >= self.partial_line_timeout:
                    reader.flush_partial(out)
            elif idle >= self.close_rotated_after:
                self._close(reader, deleted=st.st_nlink == 0)
        if len(out) > first or reader.skipped:
            self._positions.record_sent(reader, out, first)

    def _close(self, reader: FileReader, deleted: bool) -> None:
        if reader.copy_of is None:
            log.info("done with rotated file %s", reader.path)
        with self._positions.lock:
            reader.close()
            self._files.remove(reader)
            if reader.copy_of is None:
                self._positions.drain(reader.file_id, forget=deleted)

    @staticmethod
    def _idle_since(reader: FileReader) -> float:
        return max(reader.last_data, reader.rotated_at or 0.0)

    def _due(self, reader: FileReader) -> float:
        """Silence after which a rotated file's partial line goes out, or the file closes."""
        return self.partial_line_timeout if reader.has_partial else self.close_rotated_after
