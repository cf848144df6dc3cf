"""The promise, under harm: every line Apache writes ends up as a row, whatever happens.

A writer appends real lines (each made unique) at a steady rate while the run rotates
the log (rename + create twice, copytruncate once), kill -9s logs2kafka and
kafka2cassandra three times each, stops and restarts the Kafka broker and Cassandra,
kill -9s each of them once, and runs a second kafka2cassandra replica in the same group
for a while. A run longer than ``CYCLE`` seconds repeats that plan once per ``CYCLE``.
At the end nothing may be missing and, in ``event`` mode, no line may have two rows
(lines logs2kafka re-sent after a kill -9 are in the topic twice, and are reported, but
carry the same line identity, so they overwrite their row).

Runs on a Kafka + Cassandra pair of its own, so stopping servers disturbs no other
test. Larger runs: ``LOGPIPE_FAULT_SECONDS=600 LOGPIPE_FAULT_RATE=500 make e2e``.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from logpipe_testkit.ports import free_ports
from logpipe_testkit.traffic import LogWriter, load_lines
from tests.e2e.harness import (
    ArrivalWatcher,
    Report,
    Stage,
    empty_log,
    row_sequences,
    runs,
    topic_sequences,
    wait_ready,
)
from tests.support.paths import ROOT

ROOT = ROOT
SECONDS = float(os.environ.get("LOGPIPE_FAULT_SECONDS", "60"))
RATE = float(os.environ.get("LOGPIPE_FAULT_RATE", "150"))
SEED = int(os.environ.get("LOGPIPE_FAULT_SEED", str(random.randrange(1 << 30))))
SOURCE = "www-e2e"
#: Seconds of one round of the plan; longer runs repeat it.
CYCLE = 150.0


@pytest.mark.e2e
def test_no_line_lost_under_rotation_kills_and_outages(
    separate_services, unique_name: Callable[[str], str], tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    pair = separate_services
    pair.ctl("up")
    bootstrap, contact = pair.kafka_bootstrap, pair.cassandra_contact_points
    stage = Stage.prepared(bootstrap, contact, unique_name, "e2e", 6)
    topic, dlq, cassandra, keyspace = stage.topic, stage.dlq, stage.cassandra, stage.keyspace

    log_path = empty_log(tmp_path)
    logs = log_path.parent
    run = f"r{SEED:x}"
    ports = dict(zip(("l2k", "k2c_a", "k2c_b"), free_ports(3), strict=True))
    shipper = stage.shipper(
        "logs2kafka",
        [str(logs / "access.log*")],
        SOURCE,
        tmp_path,
        "--metrics-port",
        str(ports["l2k"]),
    )
    # "a" is a pod that restarts (static membership keeps its partitions across a
    # kill -9); "b" is a replica added and later removed (a dynamic member, which leaves
    # the group when it stops, so its partitions move at once).
    pollers = {
        name: stage.poller(
            f"kafka2cassandra-{name}",
            tmp_path,
            "--log-id",
            "event",
            "--metrics-port",
            str(ports[f"k2c_{name}"]),
            *(("--group-instance-id", "e2e-a") if name == "a" else ()),
        )
        for name in ("a", "b")
    }
    events: list[str] = [f"seed {SEED}, {SECONDS:.0f} s at {RATE:.0f} lines/s"]
    kills: Counter[str] = Counter()
    writer = LogWriter(
        log_path, load_lines(ROOT / "tests/data/access-combined-real.log"), run, RATE
    )

    def rotate_rename() -> None:
        events.append(f"rotate rename+create -> {writer.rotate_rename().name}")

    def rotate_copytruncate() -> None:
        events.append(f"rotate copytruncate -> {writer.rotate_copytruncate().name}")

    def kill_shipper() -> None:
        shipper.restart()
        kills["kill -9 logs2kafka"] += 1
        events.append("kill -9 logs2kafka, restarted")

    def kill_poller() -> None:
        pollers["a"].restart()
        kills["kill -9 kafka2cassandra"] += 1
        events.append("kill -9 kafka2cassandra-a, restarted")

    def second_replica_on() -> None:
        pollers["b"].start()
        events.append("second kafka2cassandra replica started")

    def second_replica_off() -> None:
        code = pollers["b"].terminate()
        events.append(f"second kafka2cassandra replica stopped (exit {code})")

    def bounce(server: str) -> Callable[[], None]:
        def stop_start() -> None:
            pair.ctl(f"stop-{server}")
            time.sleep(rng.uniform(5, 10))
            pair.ctl(f"start-{server}")
            kills[f"stop {server}"] += 1
            events.append(f"{server} stopped and started again")

        return stop_start

    def crash(server: str) -> Callable[[], None]:
        def kill_start() -> None:
            pair.kill9(server)
            time.sleep(rng.uniform(3, 6))
            pair.ctl(f"start-{server}")
            kills[f"kill -9 {server}"] += 1
            events.append(f"{server} killed -9 and started again")

        return kill_start

    # Each harm at a random moment inside its own slice of a round.
    round_plan: list[tuple[float, Callable[[], None]]] = [
        (0.04, rotate_rename),
        (0.09, kill_shipper),
        (0.14, kill_poller),
        (0.18, second_replica_on),
        (0.22, bounce("kafka")),
        (0.32, crash("kafka")),
        (0.42, rotate_copytruncate),
        (0.47, kill_shipper),
        (0.52, kill_poller),
        (0.56, second_replica_off),
        (0.60, bounce("cassandra")),
        (0.72, crash("cassandra")),
        (0.82, rotate_rename),
        (0.87, kill_shipper),
        (0.92, kill_poller),
    ]
    rounds = max(1, round(SECONDS / CYCLE))
    span = SECONDS / rounds
    plan = [
        (span * (n + at + rng.uniform(0, 0.03)), action)
        for n in range(rounds)
        for at, action in round_plan
    ]

    pollers["a"].start()
    wait_ready(pollers["a"], ports["k2c_a"])
    shipper.start()
    wait_ready(shipper, ports["l2k"])
    watcher = ArrivalWatcher(cassandra, keyspace, SOURCE, run, writer.appended).start()
    begin = time.monotonic()
    writer.start()
    try:
        for at, action in plan:
            delay = begin + at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            action()
        time.sleep(max(0.0, begin + SECONDS - time.monotonic()))
        written = writer.stop()
        events.append(f"writing took {time.monotonic() - begin:.0f} s")

        # Drain: every line written must arrive as a row (or a dead letter).
        wanted = set(writer.appended)
        deadline = time.monotonic() + 180
        rows = row_sequences(cassandra, keyspace, SOURCE, run)
        while not wanted <= set(rows) and time.monotonic() < deadline:
            time.sleep(3)
            rows = row_sequences(cassandra, keyspace, SOURCE, run)
        watcher.stop()
        for daemon in (shipper, pollers["a"]):
            assert daemon.alive(), f"{daemon.name} died:\n{daemon.output()[-3000:]}"
            assert daemon.terminate() == 0, daemon.output()[-3000:]
    finally:
        writer.stop()
        watcher.stop()
        for daemon in (shipper, *pollers.values()):
            if daemon.alive():
                daemon.kill9()

    in_topic, records = topic_sequences(bootstrap, topic, run)
    dead, dlq_records = topic_sequences(bootstrap, dlq, run)
    missing = sorted(wanted - set(rows) - set(dead))
    report = Report(
        written=written,
        rows=sum(rows.values()),
        missing=missing,
        row_duplicates=sum(n - 1 for n in rows.values() if n > 1),
        topic_records=records,
        topic_duplicates=sum(n - 1 for n in in_topic.values() if n > 1),
        dlq=dlq_records,
        events=events,
        resent=runs([s for s, n in in_topic.items() if n > 1]),
        kills=dict(kills),
    )
    # Delay from append to row, as seen by a reader polling Cassandra every second.
    report.delays_ms = [
        (seen - writer.appended[s]) * 1000 for s, seen in watcher.first_seen.items()
    ]
    print("\n" + report.text())
    (tmp_path / "report.txt").write_text(report.text())

    assert not missing, f"{len(missing)} lines missing, first {missing[:20]}\n{report.text()}"
    # event mode: a line's row id comes from its identity (file and offset), so a line
    # sent twice by logs2kafka or written twice by kafka2cassandra is still one row.
    doubled = sorted(s for s, n in rows.items() if n > 1)
    assert not doubled, f"{len(doubled)} lines with two rows, first {doubled[:20]}"
    assert report.dlq == 0, "real access-log lines were dead-lettered"
