"""The private parts of kafka-python logpipe uses, pinned without a server: every one
exists in the installed release, and a release without one stops the daemons at start-up
with one line naming the library and its version."""

from __future__ import annotations

import importlib.metadata

import pytest
from click.testing import CliRunner

from logpipe.client_surface import ATTRIBUTE, ClientSurfaceError, Need, built_for, check_surface
from logpipe.kafka import surface
from logpipe.kafka.surface import NEEDS, check_kafka_client


@pytest.fixture
def fresh_check():
    check_kafka_client.cache_clear()
    yield
    check_kafka_client.cache_clear()


@pytest.mark.parametrize("need", NEEDS, ids=lambda need: need.label)
def test_every_need_holds_in_the_installed_release(need: Need) -> None:
    assert need.problem() is None


def test_the_installed_release_is_the_one_logpipe_is_built_for() -> None:
    assert built_for("kafka-python") == importlib.metadata.version("kafka-python") == "3.0.12"
    check_kafka_client("kafka-python")
    check_kafka_client("confluent")  # public API only: nothing to check


def test_real_clients_have_the_attributes_without_a_server() -> None:
    """Built against a port nobody listens on: nothing connects (the API version is given)."""
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.producer.record_accumulator import RecordAccumulator
    from kafka.structs import TopicPartition

    producer = KafkaProducer(bootstrap_servers="127.0.0.1:1", api_version=(3, 0))
    try:
        assert callable(producer._accumulator.append) and callable(producer._sender.wakeup)
        assert producer._closed is False
        assert producer._metadata.partitions_for_topic("t") is None
    finally:
        producer._sender.force_close()
        producer._sender.join(5)
        producer._closed = True
    future, full, new_batch, _ = RecordAccumulator().append(
        TopicPartition("t", 0), None, b"key", b"value", []
    )
    assert (future.is_done, future.exception, full, new_batch) == (False, None, False, True)

    consumer = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(3, 0), group_id="g")
    try:
        client, coordinator = consumer._client, consumer._coordinator
        assert client.connected(0) is False and not client.cluster.brokers()
        assert coordinator.coordinator_unknown() is True
        assert coordinator.rebalance_in_progress() in (True, False)
        assert coordinator.need_rejoin() in (True, False)
        assert callable(coordinator.request_rejoin)
    finally:
        consumer.close(autocommit=False, timeout_ms=500)


def test_a_missing_method_is_one_line_naming_the_library_and_version(
    monkeypatch: pytest.MonkeyPatch, fresh_check
) -> None:
    from kafka.coordinator.consumer import ConsumerCoordinator

    # As if a release renamed it (it is inherited from BaseCoordinator).
    monkeypatch.setattr(ConsumerCoordinator, "request_rejoin", None)
    with pytest.raises(ClientSurfaceError) as raised:
        check_kafka_client()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("kafka-python 3.0.12 lacks what logpipe uses: ")
    assert "ConsumerCoordinator.request_rejoin()" in message
    assert "built for kafka-python 3.0.12" in message


def test_a_changed_signature_or_a_gone_class_is_reported() -> None:
    needs = [
        Need("kafka.producer.kafka:KafkaProducer", "_no_such_part", ATTRIBUTE, "test"),
        Need("kafka.no_such_module:Thing", "x", ATTRIBUTE, "test"),
        Need(
            "kafka.producer.record_accumulator:RecordAccumulator",
            "append",
            "method",
            "test",
            ("topic_partition", "key"),
        ),
    ]
    with pytest.raises(ClientSurfaceError) as raised:
        check_surface("kafka-python", needs)
    message = str(raised.value)
    assert "KafkaProducer._no_such_part" in message
    assert "kafka.no_such_module:Thing (gone)" in message
    assert "RecordAccumulator.append(topic_partition, key, ...)" in message


def test_both_daemons_stop_at_start_with_that_line(
    monkeypatch: pytest.MonkeyPatch, fresh_check, tmp_path
) -> None:
    from logpipe.kafka2cassandra.cli import main as k2c
    from logpipe.logs2kafka.cli import main as l2k

    gone = Need("kafka.producer.kafka:KafkaProducer", "_accumulator_gone", ATTRIBUTE, "test")
    monkeypatch.setattr(surface, "NEEDS", (*NEEDS, gone))
    log = tmp_path / "a.log"
    log.write_text("x\n")
    shipped = CliRunner().invoke(l2k, ["ship", str(log), "--bootstrap-servers", "127.0.0.1:1"])
    assert shipped.exit_code == 1
    assert "kafka-python 3.0.12 lacks what logpipe uses: KafkaProducer._accumulator_gone" in (
        shipped.output
    )
    assert "Traceback" not in shipped.output
    polled = CliRunner().invoke(k2c, ["poll", "--bootstrap-servers", "127.0.0.1:1"])
    assert polled.exit_code == 1
    assert "KafkaProducer._accumulator_gone" in polled.output
    assert "Traceback" not in polled.output


def test_the_confluent_client_missing_is_one_line_at_start(fresh_check, monkeypatch) -> None:
    """--kafka-client confluent without the fast extra: a clear error at start, not a
    consumer that fails to open and is retried for ever."""
    real = surface.importlib.util.find_spec
    monkeypatch.setattr(
        surface.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "confluent_kafka" else real(name, *a),
    )
    with pytest.raises(ClientSurfaceError, match=r"pip install 'logpipe\[fast\]'"):
        check_kafka_client("confluent")
