"""The seed tutorial's poller, reproduced from its published algorithm (the baseline).

What it reproduces: a ``KafkaConsumer('www_logs')`` with default settings (automatic
offset commits, no consumer group), ``json.loads(json.loads(message.value))['log']``
(the producer encoded the envelope twice), a ``print`` of the entry, and one synchronous
``session.execute`` of ``INSERT ... VALUES (%s, %s, %s, now(), %s)`` per message on a
session connected to keyspace ``admintome``. Any bad message ends it.

Two changes so it can be measured on a pre-filled topic, neither making it faster:
``auto_offset_reset='earliest'`` (the tutorial's default, ``latest``, would read nothing
already in the topic), and it returns after ``limit`` messages instead of looping
forever. The keyspace, topic and servers are parameters; ``print`` goes to the stream
given (the benchmark passes /dev/null, as a pod's log would absorb it).
"""

from __future__ import annotations

import json
import time
from typing import TextIO

from cassandra.cluster import Cluster
from kafka import KafkaConsumer


def run(
    bootstrap: str, topic: str, contact_point: str, keyspace: str, limit: int, out: TextIO
) -> tuple[int, float]:
    """Returns the messages stored and the seconds from the first message to the last."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    cluster = Cluster([contact_point])
    session = cluster.connect(keyspace)
    done, first = 0, 0.0
    try:
        for message in consumer:
            if not done:
                first = time.monotonic()
            entry = json.loads(json.loads(message.value))["log"]
            print(entry, file=out)
            session.execute(
                "INSERT INTO logs (log_source, log_type, log_datetime, log_id, log) "
                "VALUES (%s, %s, %s, now(), %s)",
                (entry["source"], entry["type"], entry["datetime"], entry["log"]),
            )
            done += 1
            if done >= limit:
                break
    finally:
        consumer.close()
        cluster.shutdown()
    return done, time.monotonic() - first
