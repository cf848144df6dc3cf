"""verify's counting: hours of the files' lines, plain and gzip, and which hours differ."""

from __future__ import annotations

import gzip
from collections import Counter

from logpipe.kafka2cassandra.verify import UNPARSED, differences, file_hours, hour_of

LINE = '1.2.3.4 - - [17/May/2015:{}:05:03 +0200] "GET / HTTP/1.1" 200 5 "-" "x"\n'


def test_hour_of_is_the_utc_hour():
    assert hour_of("2015-05-17T10:05:03+02:00") == "2015-05-17T08:00Z"


def test_file_hours_reads_plain_and_gzip(tmp_path):
    (tmp_path / "a.log").write_text(LINE.format("10") * 3 + "garbage\n")
    with gzip.open(tmp_path / "a.log.1.gz", "wt") as gz:
        gz.write(LINE.format("09") * 2)
    counts = file_hours([tmp_path / "a.log.1.gz", tmp_path / "a.log"], "combined", "h", "UTC")
    assert counts == Counter({"2015-05-17T07:00Z": 2, "2015-05-17T08:00Z": 3, UNPARSED: 1})


def test_differences_within_the_hours_the_files_cover():
    lines = Counter({"2015-05-17T07:00Z": 2, "2015-05-17T09:00Z": 3, UNPARSED: 1})
    rows = Counter(
        {"2015-05-17T06:00Z": 9, "2015-05-17T07:00Z": 2, "2015-05-17T08:00Z": 1,
         "2015-05-17T09:00Z": 1, UNPARSED: 1}
    )  # fmt: skip
    found = [(d.hour, d.lines, d.rows) for d in differences(lines, rows)]
    # 06:00 is before the files' first hour; 08:00 has a row but no line: it differs.
    assert found == [("2015-05-17T08:00Z", 0, 1), ("2015-05-17T09:00Z", 3, 1)]
    assert differences(lines, lines) == []
