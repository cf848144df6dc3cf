"""The fault matrix's Kafka outages, on a Kafka + Cassandra pair of this module's own.

logs2kafka follows a plain path (``access.log``, as the systemd unit and the DaemonSet
do) with a small pending bound, so an outage fills it within a second; the log is rotated
while Kafka is away. When Kafka returns, every line written must become one row (``event``
mode), whatever the rotation did: renamed twice, compressed by Debian's logrotate, or
copied and truncated (then only what the copytruncate itself lost may be missing, and
logs2kafka counts it). One pair serves every scenario (each on names of its own), so the
servers start once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logpipe_testkit.readiness import http_status
from logpipe_testkit.traffic import LogWriter
from tests.conftest import ServicePair, service_pair
from tests.e2e.matrix import CORPUS, Pipeline, Tally, metric, metrics, wait_for

pytestmark = pytest.mark.e2e

RATE = 100.0
#: Lines read but not acknowledged: an outage fills this within a second.
MAX_PENDING = "200"
#: Bytes logs2kafka lost because a file vanished (or was truncated) unread.
LOST = "logs2kafka_bytes_lost"


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServicePair]:
    servers = service_pair(tmp_path_factory.mktemp("outage-pair"))
    try:
        servers.ctl("up")
        yield servers
    finally:
        servers.ctl("down")


@pytest.fixture
def pipe(
    pair: ServicePair,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Pipeline]:
    pair.ctl("up")  # a scenario that failed half-way may have left a server stopped
    label = request.node.name.removeprefix("test_")[:16]
    pipeline = Pipeline(
        tmp_path, pair.kafka_bootstrap, pair.cassandra_contact_points, unique_name, label
    )
    try:
        yield pipeline
    finally:
        pipeline.kill_all()


def outage(
    pipe: Pipeline,
    pair: ServicePair,
    harm: Callable[[LogWriter], None],
    before: float = 2.0,
    after: float = 2.0,
    shipper_args: tuple[str, ...] = (),
) -> tuple[LogWriter, float]:
    """Both daemons on a plain ``access.log``; lines for ``before`` s, Kafka stopped, ``harm``
    done to the log while lines keep coming, Kafka started, lines for ``after`` s more.
    Returns the writer (stopped) and the most bytes logs2kafka reported unread at once."""
    pipe.prepare()
    log = pipe.logs / "access.log"
    log.touch()
    pipe.start(pipe.poller())
    shipper = pipe.start(pipe.shipper([str(log)], "--max-pending", MAX_PENDING, *shipper_args))
    writer = LogWriter(log, CORPUS, pipe.run, RATE).start()
    unread = 0.0
    try:
        time.sleep(before)
        pair.ctl("stop-kafka")
        harm(writer)
        unread = max(unread, metrics(pipe.port(shipper)).get("logs2kafka_bytes_unread", 0.0))
        pipe.assert_alive()
        pair.ctl("start-kafka")
        time.sleep(after)
    finally:
        writer.stop()
    return writer, unread


def settled(pipe: Pipeline, writer: LogWriter, lost: set[int] | None = None) -> Tally:
    tally = pipe.settle(set(writer.appended) - (lost or set()), timeout=120)
    names = sorted(p.name for p in pipe.logs.iterdir())
    tally.notes.append(f"files at the end: {names}")
    return tally


def test_kafka_outage_spanning_two_rename_rotations(pipe: Pipeline, pair: ServicePair) -> None:
    """The file created by the first rotation is rotated away again before Kafka returns
    (it is ``access.log.1`` then, no longer under the path): it must be read all the same."""

    def rotate_twice(writer: LogWriter) -> None:
        time.sleep(2)
        writer.rotate_logrotate()
        time.sleep(2)
        writer.rotate_logrotate()
        time.sleep(1)

    writer, unread = outage(pipe, pair, rotate_twice)
    tally = settled(pipe, writer)
    tally.notes.append(f"bytes unread during the outage: {unread:.0f}")
    tally.assert_exactly_once()
    assert metric(pipe.port(pipe.daemons[1]), LOST) == 0, tally.text()
    pipe.stop()


def test_kafka_outage_spanning_a_compressed_rotation(pipe: Pipeline, pair: ServicePair) -> None:
    """Debian's logrotate for Apache (``compress``, ``delaycompress``, ``create``) three
    times during the outage: the file of the first rotation ends as ``access.log.2.gz``
    and the one before as ``access.log.3.gz``; both must be read, from the held file or
    from the archive."""

    def rotate_thrice(writer: LogWriter) -> None:
        time.sleep(2)
        for _ in range(3):
            writer.rotate_logrotate(compress=True)
            time.sleep(1.5)

    writer, _ = outage(pipe, pair, rotate_thrice)
    tally = settled(pipe, writer)
    tally.assert_exactly_once()
    assert metric(pipe.port(pipe.daemons[1]), LOST) == 0, tally.text()
    pipe.stop()


def test_kafka_outage_and_restart_across_compressed_rotations(
    pipe: Pipeline, pair: ServicePair
) -> None:
    """The host stops logs2kafka during the outage and logrotate rotates three times
    meanwhile (Debian's ``compress`` + ``delaycompress``): when logs2kafka starts again the
    checkpointed file is only ``access.log.3.gz``; it is finished from the archive, then
    the files created and rotated away while it was stopped (``access.log.2.gz``,
    ``access.log.1``) are read, then the current one. A short ``--shutdown-timeout``:
    with Kafka away the stop would otherwise wait its whole 20 s for acknowledgements."""

    def rotate_while_down(writer: LogWriter) -> None:
        shipper = pipe.daemons[1]
        time.sleep(1)
        assert shipper.terminate() == 0, shipper.output()[-3000:]
        for _ in range(3):  # about 50 lines in each generation
            writer.rotate_logrotate(compress=True)
            time.sleep(0.5)
        names = sorted(p.name for p in pipe.logs.iterdir())
        assert names[-3:] == ["access.log.1", "access.log.2.gz", "access.log.3.gz"], names
        shipper.start()
        health = f"http://127.0.0.1:{pipe.port(shipper)}/healthz"
        wait_for(lambda: http_status(health) != 0, 60, "logs2kafka serving its metrics")

    writer, _ = outage(pipe, pair, rotate_while_down, shipper_args=("--shutdown-timeout", "4"))
    pipe.wait_ready(pipe.daemons[1], timeout=120)
    tally = settled(pipe, writer)
    tally.assert_exactly_once()
    assert metric(pipe.port(pipe.daemons[1]), LOST) == 0, tally.text()
    pipe.stop()


def test_copytruncate_during_a_kafka_outage(pipe: Pipeline, pair: ServicePair) -> None:
    """copytruncate while Kafka is away: the lines logs2kafka had not read yet are in the
    copy (``access.log.1``) and must be read from it; only the lines written between the
    copy and the truncate (lost by the rotation itself, in neither file) may be missing.
    The bytes logs2kafka knows it lost are a metric (reported, not asserted: it cannot
    see lines written after its last look at the file)."""

    def copytruncate(writer: LogWriter) -> None:
        time.sleep(2)
        writer.rotate_copytruncate(lose=5)
        time.sleep(2)

    writer, _ = outage(pipe, pair, copytruncate)
    lost = set(writer.lost_in_rotation)
    tally = settled(pipe, writer, lost)
    lost_bytes = metric(pipe.port(pipe.daemons[1]), LOST)
    tally.notes.append(f"lost by the copytruncate: {sorted(lost)}; bytes lost: {lost_bytes}")
    tally.assert_exactly_once()
    pipe.stop()
