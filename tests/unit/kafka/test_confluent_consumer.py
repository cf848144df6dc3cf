"""ConfluentConsumer's own bookkeeping (pure logic, no broker): which commit a result of
librdkafka's one commit callback belongs to, and the client's statistics."""

from __future__ import annotations

import confluent_kafka
import orjson
import pytest

from logpipe.kafka import ConsumerSettings
from logpipe.kafka.confluent_consumer import ConfluentConsumer


def bare() -> ConfluentConsumer:
    """The consumer's state without a client (its __init__ connects)."""
    consumer = ConfluentConsumer.__new__(ConfluentConsumer)
    ConfluentConsumer._reset(consumer)
    consumer._ck = confluent_kafka
    return consumer


def tps(offsets, error=None):
    out = []
    for (topic, partition), offset in offsets.items():
        tp = confluent_kafka.TopicPartition(topic, partition, offset)
        if error is not None:
            tp.error = error
        out.append(tp)
    return out


def queue(consumer, offsets, log):
    with consumer._commits_lock:
        consumer._commits.append((offsets, lambda o, e: log.append((o, e))))


def test_each_commit_result_goes_to_the_commit_of_the_same_offsets() -> None:
    consumer, log = bare(), []
    first, second = {("t", 0): 10}, {("t", 0): 20, ("t", 1): 5}
    queue(consumer, first, log)
    queue(consumer, second, log)
    consumer._on_commit(None, tps(second))  # answered out of order
    consumer._on_commit(None, tps(first))
    assert log == [(second, None), (first, None)]
    assert not consumer._commits


def test_a_failed_commit_is_reported_as_such_to_its_caller() -> None:
    consumer, log = bare(), []
    offsets = {("t", 0): 10}
    queue(consumer, offsets, log)
    rebalancing = confluent_kafka.KafkaError(confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS)
    consumer._on_commit(rebalancing, tps(offsets))
    [(named, error)] = log
    assert named == offsets and isinstance(error, confluent_kafka.KafkaException)
    assert error.args[0].code() == confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS


def test_a_result_naming_no_known_commit_goes_to_the_oldest() -> None:
    consumer, log = bare(), []
    queue(consumer, {("t", 0): 10}, log)
    queue(consumer, {("t", 0): 20}, log)
    consumer._on_commit(None, [])
    assert log == [({("t", 0): 10}, None)]
    consumer._on_commit(None, [])
    consumer._on_commit(None, [])  # nothing left: ignored
    assert len(log) == 2


@pytest.mark.parametrize(
    ("brokers", "group", "connected"),
    [
        ({"b/1": {"state": "UP", "nodeid": 1}}, "up", True),
        (
            {
                "b/1": {"state": "DOWN", "nodeid": 1},
                "GroupCoordinator": {"state": "UP", "nodeid": -1},
            },
            "up",
            False,
        ),
        ({"b/1": {"state": "UP", "nodeid": 1}}, "wait-coord", False),
    ],
)
def test_connected_is_read_from_the_statistics(brokers, group, connected) -> None:
    consumer = bare()
    consumer._on_stats(orjson.dumps({"brokers": brokers, "cgrp": {"state": group}}).decode())
    assert consumer.connected() is connected


def test_the_client_must_be_known() -> None:
    with pytest.raises(ValueError, match="kafka-python, confluent"):
        ConsumerSettings(client="librdkafka")


class _Error:
    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def str(self) -> str:
        return f"{self._name}: said by the client"

    def fatal(self) -> bool:
        return False


class _ErrorMessage:
    def __init__(self, name: str) -> None:
        self._error = _Error(name)

    def error(self) -> _Error:
        return self._error

    def topic(self) -> str:
        return "t"


class _AnsweringAtOnce:
    """A client whose every consume returns an error at once (no wait)."""

    def __init__(self, name: str) -> None:
        self.name, self.calls = name, 0

    def consume(self, num_messages: int, timeout: float) -> list:
        self.calls += 1
        return [_ErrorMessage(self.name)]


@pytest.mark.parametrize("name", ["_TRANSPORT", "UNKNOWN_TOPIC_OR_PART"])
def test_errors_in_place_of_records_never_make_a_busy_loop(name, caplog) -> None:
    import time

    consumer = bare()
    consumer.settings = ConsumerSettings(client="confluent")
    consumer.topic = "t"
    consumer._consumer = _AnsweringAtOnce(name)
    started = time.monotonic()
    for _ in range(3):
        assert consumer.poll(0.1) == []
    assert time.monotonic() - started >= 0.3  # each poll took its whole timeout
    assert consumer._consumer.calls == 3
