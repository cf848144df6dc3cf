"""The Kafka client alone following a file: what it costs with nothing else done per line.

What a Python shipper cannot avoid paying whatever it does with a line: the client's
own work to produce it and learn that it was delivered. This follower does nothing
else. Every ``--interval`` seconds (0.1, as often as ``logs2kafka tail`` looks at its
files) it reads what was appended, splits it into lines and produces each raw line
(no parsing, no envelope, no checkpoint, no metrics), with the producer settings it is
given (``bench_shippers.client_alone_starter`` passes logs2kafka's defaults):

* ``confluent``: ``Producer.produce`` with one delivery callback shared by every record
  (a counter), served by ``poll(0)`` after each read;
* ``kafka-python``: records appended straight to the client's record accumulator and
  their futures checked in order, the cheapest way to use that client (the one
  ``logs2kafka tail`` takes), with no callback per record.

It prints ``ready`` once connected; SIGTERM flushes and exits. Started by the bench
(``bench_shippers.py``, ``bench_steady.py``), not by hand::

    python bench/client_alone.py CLIENT FILE TOPIC BOOTSTRAP [--linger-ms 20] ...
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections import deque
from collections.abc import Callable
from typing import Any

KEY = b"bench"


def confluent(args: argparse.Namespace) -> tuple[Callable[[bytes], None], Callable[[], None], Any]:
    """``send`` and ``pump`` over confluent-kafka, and the producer (to flush)."""
    import confluent_kafka

    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": args.bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": args.compression,
            "linger.ms": args.linger_ms,
            "batch.size": args.batch_size,
            "partitioner": "murmur2_random",
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    producer.list_topics(topic=args.topic, timeout=30)
    delivered = [0]

    def on_delivery(_err: Any, _msg: Any) -> None:
        delivered[0] += 1

    produce, topic = producer.produce, args.topic

    def send(line: bytes) -> None:
        while True:
            try:
                produce(topic, value=line, key=KEY, on_delivery=on_delivery)
                return
            except BufferError:
                producer.poll(0.1)

    return send, lambda: producer.poll(0), producer


def kafka_python(
    args: argparse.Namespace,
) -> tuple[Callable[[bytes], None], Callable[[], None], Any]:
    """``send`` and ``pump`` over kafka-python's record accumulator, and the producer."""
    from kafka import KafkaProducer
    from kafka.structs import TopicPartition

    producer = KafkaProducer(
        bootstrap_servers=args.bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type=None if args.compression == "none" else args.compression,
        linger_ms=args.linger_ms,
        batch_size=args.batch_size,
    )
    producer.partitions_for(args.topic)  # waits for the topic's metadata
    tp = TopicPartition(args.topic, 0)
    append, sender = producer._accumulator.append, producer._sender
    in_flight: deque[Any] = deque()

    def send(line: bytes) -> None:
        future, full, new_batch, _ = append(tp, None, KEY, line, [])
        if full or new_batch:
            sender.wakeup()
        in_flight.append(future)

    def pump() -> None:
        while in_flight and in_flight[0].is_done:
            in_flight.popleft()

    return send, pump, producer


def follow(
    path: str, interval: float, send: Callable[[bytes], None], pump: Callable[[], None]
) -> None:
    """Read what is appended to ``path`` and send each complete line, until SIGTERM."""
    stop = [False]
    signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    fd = os.open(path, os.O_RDONLY)
    carry = b""
    print("ready", flush=True)
    while not stop[0]:
        data = os.read(fd, 1 << 20)
        if data:
            pieces = (carry + data).split(b"\n")
            carry = pieces.pop()
            for line in pieces:
                send(line)
        pump()
        if len(data) < 1 << 20:
            time.sleep(interval)
    os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("client", choices=("confluent", "kafka-python"))
    parser.add_argument("file")
    parser.add_argument("topic")
    parser.add_argument("bootstrap")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--linger-ms", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=256 * 1024)
    parser.add_argument("--compression", default="lz4")
    args = parser.parse_args()
    send, pump, producer = (confluent if args.client == "confluent" else kafka_python)(args)
    follow(args.file, args.interval, send, pump)
    producer.flush(30)


if __name__ == "__main__":
    main()
