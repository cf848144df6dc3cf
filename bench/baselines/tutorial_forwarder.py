"""The seed tutorial's forwarder, reproduced from its published algorithm (the baseline).

What it reproduces (DESIGN.md, "the tutorial pipeline we replace"): open the access
log and loop on ``readline()``, sleeping 0.1 s when there is nothing; for each line take
the 4th space-separated token without its ``[``, ``strptime`` it with
``%d/%b/%Y:%H:%M:%S`` and format it as ``%Y-%m-%d %H:%M``; build ``{'datetime',
'source': hostname, 'type': 'www_access', 'log': "'<line>'"}``; ``json.dumps({'log':
entry})`` to a string, ``print`` it, and send that string with a kafka-python producer
whose ``value_serializer`` is ``json.dumps`` (so the value is JSON encoded twice), key
``b'log'``, waiting on ``.get()`` for every single message. No rotation handling, no
checkpoint; a line whose 4th token is not a timestamp ends it.

Two changes so it can be measured on a file written beforehand, neither making it
faster: it starts at the beginning of the file instead of seeking to its end, and it
returns at the end of the file after ``limit`` lines instead of waiting forever. The
topic and servers are parameters; ``print`` goes to the stream given (the benchmark
passes /dev/null, as a terminal or a pod's log would absorb it).

    python bench/baselines/tutorial_forwarder.py FILE --topic T [--limit N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from datetime import datetime
from typing import TextIO

from kafka import KafkaProducer


def run(path: str, bootstrap: str, topic: str, limit: int, out: TextIO) -> int:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        value_serializer=lambda v: json.dumps(v).encode("utf-8"),
    )
    hostname = socket.gethostname()
    done = 0
    with open(path) as f:
        while done < limit:
            line = f.readline()
            if not line:
                if f.tell() >= _size(path):
                    break  # the benchmark's end (the tutorial would sleep and retry)
                time.sleep(0.1)
                continue
            line = line.rstrip("\n")
            stamp = line.split(" ")[3].replace("[", "")
            when = datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S").strftime("%Y-%m-%d %H:%M")
            entry = {"datetime": when, "source": hostname, "type": "www_access", "log": f"'{line}'"}
            message = json.dumps({"log": entry})
            print(message, file=out)
            producer.send(topic, value=message, key=b"log").get()
            done += 1
    producer.close()
    return done


def _size(path: str) -> int:
    return os.stat(path).st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--topic", default="www_logs")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092")
    parser.add_argument("--limit", type=int, default=10**12)
    args = parser.parse_args()
    started = time.monotonic()
    with open("/dev/null", "w") as out:
        count = run(args.file, args.bootstrap_servers, args.topic, args.limit, out)
    took = time.monotonic() - started
    print(f"{count} lines in {took:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
