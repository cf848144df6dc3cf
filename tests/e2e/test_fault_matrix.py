"""The fault matrix on the shared servers: one fault a test, each ending in every line one row.

Each scenario runs the daemons as processes (``logs2kafka tail``, ``kafka2cassandra poll
--log-id event``) on names of its own for a few seconds of traffic, does one harm, and
ends in the same accounting (``tests.e2e.matrix.Tally``): 0 missing, 0 duplicate rows,
and what was routed aside visible in a metric or a log line. Scenarios that stop a server
are in ``test_fault_matrix_outages.py``, on a pair of their own.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from logpipe.cassandra import Store
from logpipe_testkit.readiness import http_status
from logpipe_testkit.traffic import LogWriter, sequence_of
from tests.e2e.harness import ArrivalWatcher, Daemon, topic_sequences
from tests.e2e.matrix import (
    CORPUS,
    HOLD_UP_LIMIT,
    Pipeline,
    RecordWriter,
    alter_topic,
    create_topic,
    delete_topic,
    logged,
    metric,
    topic_exists,
    wait_for,
    worst_delay,
)

pytestmark = pytest.mark.e2e

#: Rows are looked for this often; a hold-up is measured to within it.
WATCH_INTERVAL = 0.25
CUT = "logs2kafka_lines_cut_to_fit"
REJECTED = "logs2kafka_lines_rejected"
DEAD_LETTERED = "kafka2cassandra_dead_lettered"
DEAD_LETTER_FAILURES = "kafka2cassandra_dead_letter_failures"
DEAD_LETTER_HELD = "kafka2cassandra_dead_letter_held_partitions"


@pytest.fixture
def pipe(
    kafka_bootstrap: str,
    cassandra_contact_points: str,
    unique_name: Callable[[str], str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[Pipeline]:
    label = request.node.name.removeprefix("test_")[:16]
    pipeline = Pipeline(tmp_path, kafka_bootstrap, cassandra_contact_points, unique_name, label)
    try:
        yield pipeline
    finally:
        pipeline.kill_all()


def longest_row(pipe: Pipeline) -> int:
    with Store(pipe.cassandra, consistency="ONE") as store:
        rows = store.select(pipe.keyspace, pipe.source, "www_access", page_size=100)
        return max((len(row["log"].encode()) for row in rows), default=0)


def dead_letters(pipe: Pipeline) -> int:
    return topic_sequences(pipe.bootstrap, pipe.dlq, pipe.run)[1]


def run_lines(
    pipe: Pipeline,
    seconds: float,
    rate: float,
    suffix: Callable[[int], bytes] | None = None,
    during: Callable[[LogWriter, float], None] | None = None,
) -> tuple[LogWriter, ArrivalWatcher]:
    """Both daemons on ``access.log``; a writer appends for ``seconds`` (``during`` is called
    with the writer and the seconds elapsed, about 4 times a second)."""
    log = pipe.logs / "access.log"
    log.touch()
    poller = pipe.start(pipe.poller())
    shipper = pipe.start(pipe.shipper([str(log)]))
    assert poller.alive() and shipper.alive()
    writer = LogWriter(log, CORPUS, pipe.run, rate, suffix=suffix)
    watcher = ArrivalWatcher(
        pipe.cassandra, pipe.keyspace, pipe.source, pipe.run, writer.appended, WATCH_INTERVAL
    ).start()
    begin = time.monotonic()
    writer.start()
    try:
        while (elapsed := time.monotonic() - begin) < seconds:
            if during is not None:
                during(writer, elapsed)
            time.sleep(0.25)
    finally:
        writer.stop()
    return writer, watcher


# -- logs2kafka: what the broker would refuse ---------------------------------------------


def test_oversized_nul_and_invalid_utf8_lines_are_cut_to_fit_and_stored(pipe: Pipeline) -> None:
    """A line of NULs (after a power loss) or invalid UTF-8 grows 5-6x when JSON-escaped:
    a 256 KiB line makes a 1.5 MB envelope, over the topic's 1 MiB. Each must be shipped
    cut and flagged, never crash logs2kafka, and hold up the lines after it briefly."""
    pipe.prepare()

    def hostile(seq: int) -> bytes:
        if seq % 40 == 7:
            return b" " + b"\x00" * (256 * 1024)
        if seq % 40 == 27:
            return b" " + b"\xff\xfe" * (128 * 1024)
        return b""

    writer, watcher = run_lines(pipe, seconds=6, rate=80, suffix=hostile)
    tally = pipe.settle(writer.appended)
    watcher.stop()
    oversized = [s for s in writer.appended if hostile(s)]
    worst, _ = worst_delay(watcher, writer.appended)
    shipper = pipe.daemons[1]
    tally.notes += [
        f"{len(oversized)} oversized lines",
        f"worst delay {worst:.1f} s",
        f"longest row {longest_row(pipe)} bytes",
    ]
    tally.assert_exactly_once()
    assert longest_row(pipe) < 1024 * 1024, tally.text()
    assert metric(pipe.port(shipper), CUT) >= len(oversized), tally.text()
    assert metric(pipe.port(shipper), REJECTED, absent=0) == 0, tally.text()
    assert worst <= HOLD_UP_LIMIT + WATCH_INTERVAL, tally.text()
    pipe.stop()


def test_topic_with_a_small_max_message_bytes(pipe: Pipeline) -> None:
    """The topic takes 8 KiB messages (``max.message.bytes``); logs2kafka learns that from
    the broker and cuts longer lines to fit, flagged, instead of resending them forever.
    The long lines do not compress (the broker's limit is on the compressed batch)."""
    create_topic(pipe.bootstrap, pipe.topic, pipe.partitions, {"max.message.bytes": "8192"})
    pipe.prepare(topic=False)

    def long(seq: int) -> bytes:
        noise = random.Random(seq).randbytes
        if seq % 20 == 5:
            return b" " + base64.b64encode(noise(15_000))
        if seq % 20 == 15:
            return b" " + base64.b64encode(noise(5_900))  # the line fits, its envelope not
        return b""

    writer, watcher = run_lines(pipe, seconds=5, rate=80, suffix=long)
    tally = pipe.settle(writer.appended)
    watcher.stop()
    worst, _ = worst_delay(watcher, writer.appended)
    cut = [s for s in writer.appended if long(s)]
    shipper = pipe.daemons[1]
    tally.notes += [f"{len(cut)} lines over the limit", f"worst delay {worst:.1f} s"]
    tally.assert_exactly_once()
    assert longest_row(pipe) <= 8192, tally.text()
    assert metric(pipe.port(shipper), CUT) >= len(cut), tally.text()
    assert worst <= HOLD_UP_LIMIT + WATCH_INTERVAL, tally.text()
    pipe.stop()


def rejected_lines(pipe: Pipeline, shipper: Daemon) -> list[int]:
    """Sequence numbers of the lines in logs2kafka's reject file(s)."""
    state = pipe.tmp_path / f"state-{shipper.name}"
    found = []
    for path in sorted(state.glob("rejects.jsonl*")):
        for line in path.read_text().splitlines():
            seq = sequence_of(json.loads(line)["line"], pipe.run)
            if seq is not None:
                found.append(seq)
    return found


def test_topic_limit_lowered_under_a_running_logs2kafka(pipe: Pipeline) -> None:
    """The topic's ``max.message.bytes`` drops to 8 KiB while logs2kafka runs with the limit
    it learned at start: a line the broker then refuses is cut to fit or, refused for
    good, written to the reject file and counted; never resent in a loop. Every line is
    one row or one reject, and only long lines are rejected."""
    pipe.prepare()

    def long(seq: int) -> bytes:
        if seq % 20 == 5:
            return b" " + base64.b64encode(random.Random(seq).randbytes(15_000))
        return b""

    def lower(writer: LogWriter, elapsed: float) -> None:
        if elapsed >= 2 and not lowered:
            alter_topic(pipe.bootstrap, pipe.topic, {"max.message.bytes": "8192"})
            lowered.append(elapsed)

    lowered: list[float] = []
    writer, watcher = run_lines(pipe, seconds=6, rate=80, suffix=long, during=lower)
    shipper = pipe.daemons[1]
    wait_for(lambda: metric(pipe.port(shipper), "logs2kafka_pending_lines") == 0, 60, "acks")
    rejected = rejected_lines(pipe, shipper)
    tally = pipe.settle(set(writer.appended) - set(rejected))
    watcher.stop()
    tally.notes += [
        f"rejected {sorted(rejected)}",
        f"cut {metric(pipe.port(shipper), CUT)}",
        f"long lines {[s for s in writer.appended if long(s)]}",
    ]
    tally.assert_exactly_once()
    assert not set(rejected) & set(tally.rows), f"rejected and stored: {tally.text()}"
    assert len(set(rejected)) == len(rejected), tally.text()
    assert all(long(s) for s in rejected), f"a short line was rejected: {tally.text()}"
    assert metric(pipe.port(shipper), REJECTED, absent=0) == len(rejected), tally.text()
    pipe.stop()


# -- kafka2cassandra: the dead-letter path -------------------------------------------------

POISON_PARTITION = 0


def poison_then_flow(
    pipe: Pipeline, poison: list[bytes], seconds: float = 8.0, rate: float = 60.0
) -> tuple[RecordWriter, ArrivalWatcher]:
    """Poison records into one partition, then good records into every partition; returns
    the writer (stopped) and the arrival watcher (running)."""
    producer = pipe.producer()
    for value in poison:
        producer.send(pipe.topic, value, key=b"poison", partition=POISON_PARTITION)
    producer.flush()
    producer.close()
    writer = RecordWriter(pipe, rate, list(range(pipe.partitions)))
    watcher = ArrivalWatcher(
        pipe.cassandra, pipe.keyspace, pipe.source, pipe.run, writer.appended, WATCH_INTERVAL
    ).start()
    writer.start()
    poller = pipe.daemons[0]
    try:
        for _ in range(int(seconds * 2)):
            time.sleep(0.5)
            assert http_status(f"http://127.0.0.1:{pipe.port(poller)}/healthz") == 200, (
                poller.output()[-3000:]
            )
    finally:
        writer.stop()
    return writer, watcher


def assert_others_flow(writer: RecordWriter, watcher: ArrivalWatcher) -> None:
    """Records of the partitions without poison arrive within the hold-up limit."""
    others = [p for p in writer.partitions if p != POISON_PARTITION]
    sent = writer.sent_to(others)
    deadline = time.monotonic() + HOLD_UP_LIMIT + 2
    while time.monotonic() < deadline and worst_delay(watcher, sent)[1]:
        time.sleep(0.5)
    worst, never = worst_delay(watcher, sent)
    assert worst <= HOLD_UP_LIMIT + WATCH_INTERVAL, (
        f"partitions {others} held up: worst delay {worst:.1f} s, {never} of {len(sent)} "
        "records never arrived while the poison waited"
    )


def test_unwritable_dead_letter_topic_holds_up_only_the_poisoned_partition(
    pipe: Pipeline,
) -> None:
    """A dead-letter topic that refuses every letter (``max.message.bytes`` below what a
    letter's headers alone take): the poisoned partition waits, counted and held, the
    others flow, /healthz stays up; once the topic takes writes the poison is
    dead-lettered and its partition catches up.

    (``min.insync.replicas=2`` does not make a topic unwritable on one broker: Kafka 4
    caps it at the replication factor, and such a letter is taken at once.)"""
    pipe.prepare(dlq=False)
    create_topic(pipe.bootstrap, pipe.dlq, 1, {"max.message.bytes": "100"})
    poller = pipe.start(pipe.poller())
    poison = [b"not json %d" % i for i in range(5)]
    writer, watcher = poison_then_flow(pipe, poison)
    assert_others_flow(writer, watcher)
    wait_for(
        lambda: (
            metric(pipe.port(poller), DEAD_LETTER_FAILURES, absent=0) > 0
            and metric(pipe.port(poller), DEAD_LETTER_HELD) >= 1
        ),
        30,
        "the refused dead letters counted and their partition held",
    )
    assert dead_letters(pipe) == 0

    alter_topic(pipe.bootstrap, pipe.dlq, {"max.message.bytes": "100000"})
    tally = pipe.settle(writer.appended, timeout=150)
    watcher.stop()
    tally.notes.append(f"dead letters {dead_letters(pipe)}")
    tally.assert_exactly_once()
    wait_for(lambda: dead_letters(pipe) >= len(poison), 60, "the poison as dead letters")
    assert dead_letters(pipe) == len(poison)
    assert metric(pipe.port(poller), DEAD_LETTERED, absent=0) == len(poison)
    pipe.stop()


def test_missing_dead_letter_topic_holds_up_only_the_poisoned_partition(
    pipe: Pipeline,
) -> None:
    """The dead-letter topic is deleted under the running poller: the poisoned partition
    waits (or the topic comes back), the others flow; with the topic there again the
    poison is dead-lettered once and every good record is one row."""
    pipe.prepare()
    poller = pipe.start(pipe.poller())
    delete_topic(pipe.bootstrap, pipe.dlq)
    poison = [b"\xff\xfe binary %d" % i for i in range(5)]
    writer, watcher = poison_then_flow(pipe, poison)
    assert_others_flow(writer, watcher)

    if not topic_exists(pipe.bootstrap, pipe.dlq):  # what the operator does on the alert
        assert logged(poller, "dead-letter topic not writable"), poller.output()[-3000:]
        create_topic(pipe.bootstrap, pipe.dlq, 1, {})
    tally = pipe.settle(writer.appended, timeout=150)
    watcher.stop()
    tally.assert_exactly_once()
    wait_for(lambda: dead_letters(pipe) >= len(poison), 60, "the poison as dead letters")
    assert dead_letters(pipe) == len(poison)
    assert metric(pipe.port(poller), DEAD_LETTERED, absent=0) == len(poison)
    pipe.stop()


def test_poison_in_one_partition_while_the_others_flow(pipe: Pipeline) -> None:
    """Tens of records Cassandra refuses (a partition key over 64 KiB), records that are
    not envelopes, and records near 1 MiB whose dead letter (with our headers) would be
    over the dead-letter topic's limit, all in one partition: the other partitions flow,
    /healthz stays up, each poison record is one dead letter and every good one a row."""
    pipe.prepare()
    poller = pipe.start(pipe.poller())
    refused = [pipe.envelope(10**6 + i, source="k" * 70_000) for i in range(30)]
    not_envelopes = [b"not json at all", b"[1, 2, 3]", b'{"log": {}}']
    near_limit = [b"z" * 1_048_400 for _ in range(2)]
    poison = refused + not_envelopes + near_limit
    writer, watcher = poison_then_flow(pipe, poison)
    assert_others_flow(writer, watcher)
    tally = pipe.settle(writer.appended, timeout=120)
    watcher.stop()
    tally.assert_exactly_once()
    wait_for(lambda: dead_letters(pipe) >= len(poison), 60, "the poison as dead letters")
    assert dead_letters(pipe) == len(poison)
    assert metric(pipe.port(poller), DEAD_LETTERED, absent=0) == len(poison)
    assert len(logged(poller, "dead-lettered")) == len(poison)
    pipe.stop()


def test_table_dropped_and_recreated(pipe: Pipeline) -> None:
    """The table is dropped under the running daemons and created again: lines that
    arrive meanwhile wait (one clear error line, nothing dead-lettered) and are stored
    once the table is back. Rows stored before the drop went with the table."""
    pipe.prepare()
    writer, _ = run_lines(pipe, seconds=2, rate=80)
    pipe.settle(writer.appended).assert_exactly_once()

    poller = pipe.daemons[0]
    with Store(pipe.cassandra) as store:
        store.session.execute(f"DROP TABLE {pipe.keyspace}.logs", timeout=60)
    log = pipe.logs / "access.log"
    second = LogWriter(log, CORPUS, pipe.run + "b", 80).start()
    time.sleep(6)
    pipe.assert_alive()
    pipe.apply_schema()
    time.sleep(3)
    second.stop()
    tally = pipe.settle(second.appended, timeout=120, run=pipe.run + "b")
    tally.notes.append(f"dead letters {dead_letters(pipe)}")
    tally.assert_exactly_once()
    assert dead_letters(pipe) == 0, "the stream was dead-lettered while the table was gone"
    assert metric(pipe.port(poller), DEAD_LETTERED, absent=0) == 0
    assert len(logged(poller, "cannot be written", "does not exist")) == 1, poller.output()[-3000:]
    pipe.stop()


# -- kill -9 under load ---------------------------------------------------------------------


@pytest.mark.parametrize("victim", [1, 0], ids=["logs2kafka", "kafka2cassandra"])
def test_kill9_under_load_adds_no_row(pipe: Pipeline, victim: int) -> None:
    """A daemon killed twice while lines pour in: logs2kafka resends what was not
    checkpointed, kafka2cassandra replays what was not committed; in event mode each line
    is one row all the same (a resent line has the same id, a replayed row overwrites)."""
    pipe.prepare()
    kills: list[float] = []

    def kill(writer: LogWriter, elapsed: float) -> None:
        if len(kills) < 2 and elapsed >= 3 + 3 * len(kills):
            pipe.daemons[victim].restart()
            kills.append(elapsed)

    writer, watcher = run_lines(pipe, seconds=9, rate=300, during=kill)
    watcher.stop()
    pipe.wait_ready(pipe.daemons[victim])
    tally = pipe.settle(writer.appended)
    in_topic, _ = topic_sequences(pipe.bootstrap, pipe.topic, pipe.run)
    resent = sum(n - 1 for n in in_topic.values() if n > 1)
    tally.notes.append(f"{len(kills)} kills; lines sent twice into the topic: {resent}")
    tally.assert_exactly_once()
    pipe.stop()
