"""What the Kafka client libraries log: fewer repetitions, no secrets, and the refusals noticed.

kafka-python and librdkafka log every reconnection attempt while a broker is down, and
only their log lines say *why* a broker refused a client (wrong credentials, an untrusted
certificate). Every client log record passes one filter, which drops the repetitions
and remembers the last refusal for ``errors.access_checked``.

Some client lines alarm for nothing and are said in logpipe's own words instead
(``_RESTATED``): a topic not created yet is an ERROR of kafka-python's (and a WARNING of its
assignor) but a normal state at start, so it becomes one INFO line per topic; its event
loop's "Task ... ran for 0.17s ... blocking the event loop" is about kafka-python's own
timing, shown only at --log-level debug.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator

# kafka-python's admin client logs its whole configuration (with the SASL password) at
# DEBUG. Keep that logger above DEBUG whatever the root level, so no secret is printed.
logging.getLogger("kafka.admin.client").setLevel(logging.INFO)


class _OncePerMessage(logging.Filter):
    """Passes each distinct client log message (by template) once per ``interval``.

    While a broker is down, kafka-python logs every reconnection attempt (several a
    second). The outage itself is reported once by the caller ("kafka unreachable");
    the client's own first words on it stay visible, the repetitions do not.
    """

    def __init__(self, interval: float = 300.0) -> None:
        super().__init__()
        self.interval = interval
        self._last: dict[tuple[str, str], float] = {}
        #: Clients closing now (``closing``): their lines are debug lines meanwhile.
        self.closing = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        REFUSALS.notice(message)
        if self.closing and record.levelno < logging.CRITICAL:
            return _log.isEnabledFor(logging.DEBUG)
        if not _restated(record, message):
            return False
        # Numbers (ports, counts, durations) vary between repetitions of one message.
        key = (record.name, _DIGITS.sub("#", message))
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 10_000:
            self._last.clear()
        self._last[key] = now
        return True


class _Refusals:
    """Remembers the last refusal the client libraries reported in their logs.

    Neither client says *why* it could not connect in what it raises (a bootstrap
    timeout, a transport failure); only their log lines carry the authentication or
    certificate error. Every client log record passes ``_OncePerMessage``, which
    hands its text here.
    """

    _SIGNS = (
        "authentication failed",
        "authenticationfailed",
        "sasl authentication error",
        "code=_authentication",
        "certificate verify failed",
        "certificate_verify_failed",
    )

    def __init__(self) -> None:
        self.reason: str | None = None
        self.at = 0.0

    def notice(self, message: str) -> None:
        lowered = message.lower()
        if any(sign in lowered for sign in self._SIGNS):
            self.reason = message
            self.at = time.monotonic()

    def since(self, started: float) -> str | None:
        return self.reason if self.reason is not None and self.at >= started else None


#: kafka-python lines said otherwise: pattern -> what to do with it.
_TOPIC_MISSING = (
    re.compile(r"^Topic (\S+) not found in cluster metadata"),
    re.compile(r"^No partition metadata for topic (\S+)"),
)
_EVENT_LOOP_TIMING = re.compile(r"ran for [\d.]+s .*blocking the event loop")
_log = logging.getLogger("logpipe.kafka")
_topics_missing: set[str] = set()


def _restated(record: logging.LogRecord, message: str) -> bool:
    """False for a client line said in logpipe's words instead (or only when debugging)."""
    if _EVENT_LOOP_TIMING.search(message):
        return _log.isEnabledFor(logging.DEBUG)
    for pattern in _TOPIC_MISSING:
        found = pattern.match(message)
        if found is not None:
            topic_missing(found.group(1))
            return False
    return True


def topic_missing(topic: str) -> None:
    """Say once per topic that it does not exist yet and is waited for."""
    if topic not in _topics_missing:
        _topics_missing.add(topic)
        _log.info("topic %s does not exist yet: waiting for it", topic, extra={"topic": topic})


REFUSALS = _Refusals()
CLIENT_LOG_FILTER = _OncePerMessage()


@contextlib.contextmanager
def closing() -> Iterator[None]:
    """While a client closes on purpose: what it says of the requests it cancels itself
    (kafka-python 3.0.12 logs "Metadata refresh: failed Cancelled", or an ERROR with a
    traceback for a read on the socket it just closed) is no news to an operator who
    stopped the daemon; shown with ``--log-level debug`` only."""
    CLIENT_LOG_FILTER.closing += 1
    try:
        yield
    finally:
        CLIENT_LOG_FILTER.closing -= 1


_DIGITS = re.compile(r"\d+")


def quiet_client_logs() -> None:
    """Attach the filter to every logger of the client (after its modules are imported:
    a filter on the ``kafka`` parent would not see its children's records)."""
    for name in list(logging.root.manager.loggerDict):
        if name == "kafka" or name.startswith("kafka."):
            logger = logging.getLogger(name)
            if CLIENT_LOG_FILTER not in logger.filters:
                logger.addFilter(CLIENT_LOG_FILTER)
