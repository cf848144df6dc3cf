"""In-memory stand-ins for the writer and the dead-letter producer a Delivery is given."""

from __future__ import annotations

import time


class RecordingWriter:
    """Acknowledges every request at once and keeps its rows."""

    max_in_flight = 256
    queued = 0
    last_success = 0.0

    def __init__(self):
        self.requests = []

    def partition_of(self, row):
        return (row.source, row.type)

    def expired(self, row):
        return False

    def submit(self, rows, callback):
        self.requests.append(rows)
        callback(None, 0.001)


class RecordingDeadLetters:
    """Acknowledges (or, with ``fail``, refuses) each dead letter at once and keeps it."""

    def __init__(self, fail=False):
        self.sent = []
        self.fail = fail

    def send(self, key, value, headers, on_ack):
        self.sent.append((key, value, dict(headers)))
        on_ack(RuntimeError("no broker") if self.fail else None)


class FlakyWriter(RecordingWriter):
    """Fails requests with ``errors`` (in order) before acknowledging again; a request
    holding a row whose line is ``refused`` always fails with ValueError (a refusal)."""

    def __init__(self, errors=(), refused=None):
        super().__init__()
        self.errors = list(errors)
        self.refused = refused

    def submit(self, rows, callback):
        self.requests.append(rows)
        if any(row.log == self.refused for row in rows):
            callback(ValueError("refused"), 0.001)
        elif self.errors:
            callback(self.errors.pop(0), 0.001)
        else:
            self.last_success = time.monotonic()
            callback(None, 0.001)


class FakeConsumer:
    """The part of LogConsumer that Commits uses: commits are recorded and succeed."""

    def __init__(self, highwater=None):
        self.commits = []
        self._highwater = highwater or {}

    def commit_async(self, offsets, on_done):
        self.commits.append(dict(offsets))
        on_done(offsets, None)

    def commit(self, offsets, timeout):
        self.commits.append(dict(offsets))

    def highwater(self, tp):
        return self._highwater.get(tp)
