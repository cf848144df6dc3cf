"""An error log (times without an offset) shipped through the real Kafka into Cassandra:
its rows hold the right instant when the host's zone is not UTC (TZ set for the process,
Europe/Berlin in winter and in summer) and when --timezone names the zone."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

import pytest

from tests.support.forwarder import LOGS2KAFKA, make_topic
from tests.support.k2c import PollerThread, keyspace, wait_until

pytestmark = pytest.mark.integration

WINTER = b"[Tue Jan 09 10:42:29 2024] [core:error] [pid 7] [client 192.0.2.1:5] AH00128: winter"
SUMMER = b"[Tue Jul 09 10:42:29 2024] [core:error] [pid 7] [client 192.0.2.1:5] AH00128: summer"
#: The same wall time in Berlin is 09:42:29Z in winter (CET) and 08:42:29Z in summer (CEST).
EXPECTED = {
    "winter": datetime(2024, 1, 9, 9, 42, 29, tzinfo=UTC),
    "summer": datetime(2024, 7, 9, 8, 42, 29, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("tz", "args"),
    [("Europe/Berlin", []), ("UTC", ["--timezone", "Europe/Berlin"])],
    ids=["TZ", "--timezone"],
)
def test_error_log_rows_hold_the_instant_of_the_hosts_zone(
    tz, args, kafka_bootstrap, cassandra_contact_points, unique_name, tmp_path
):
    topic, ks = make_topic(kafka_bootstrap, unique_name("zone")), unique_name("zone")
    log = tmp_path / "error.log"
    log.write_bytes(WINTER + b"\n" + SUMMER + b"\n")
    shipped = subprocess.run(
        [LOGS2KAFKA, "ship", str(log), "--format", "error", "--source", "zone", *args],
        env={**os.environ, "TZ": tz, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
             "KAFKA_TOPIC": topic, "LOG_FORMAT": "json"},
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert shipped.returncode == 0, shipped.stderr
    with keyspace(cassandra_contact_points, ks) as store:
        poller = PollerThread(
            kafka_bootstrap, cassandra_contact_points, topic=topic, keyspace=ks,
            group_id=unique_name("zone"), dlq_topic=f"{topic}_dlq", log_id_mode="event",
        )  # fmt: skip
        with poller:
            assert wait_until(lambda: store.count(ks, "zone", "www_error") == 2, 60)
        rows = {row["log"].rsplit(" ", 1)[1]: row for row in store.select(ks, "zone", "www_error")}
    assert rows["winter"]["log_datetime"] == "2024-01-09T10:42:29+01:00"
    assert rows["summer"]["log_datetime"] == "2024-07-09T10:42:29+02:00"
    for season, instant in EXPECTED.items():
        assert rows[season]["log_time"] == instant
        assert datetime.fromisoformat(rows[season]["log_datetime"]) == instant
