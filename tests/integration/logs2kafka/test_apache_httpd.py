"""``logs2kafka tail --apache-config`` beside Debian's real httpd, serving requests on loopback.

httpd runs with the package's own configuration (copied, pointed at a temporary directory
and a free port: ``tests.support.httpd``); logs2kafka is given nothing but that
configuration. Every line httpd writes reaches Kafka parsed in the format httpd wrote it
in (Debian's ``combined``, with ``%O``), with the type of its file and the source its
virtual host declares.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.forwarder import Daemon, TopicReader, make_topic
from tests.support.httpd import APACHE2, debian_httpd

pytestmark = pytest.mark.integration


def request(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_tail_follows_what_the_debian_httpd_configuration_declares(
    tmp_path: Path, kafka_bootstrap: str, unique_name
) -> None:
    assert Path(APACHE2).exists(), "Debian's apache2 is not installed: run make install"
    topic = make_topic(kafka_bootstrap, unique_name("apache"))
    name = f"{unique_name('www')}.example"
    with debian_httpd(tmp_path / "httpd", name) as httpd:
        daemon = Daemon(
            [
                "--apache-config",
                str(httpd.main_config),
                "--from-beginning",
                "--topic",
                topic,
                "--bootstrap-servers",
                kafka_bootstrap,
                "--state-dir",
                str(tmp_path / "state"),
                "--linger-ms",
                "5",
            ],
            tmp_path / "logs2kafka.log",
        ).start()
        reader = TopicReader(kafka_bootstrap, topic)
        try:
            assert request(httpd.url("/")) == 200
            assert request(httpd.url("/"), "HEAD") == 200
            assert request(httpd.url(f"/missing-{name}")) == 404

            def arrived(entries: list) -> bool:
                access = [e for e in entries if e.type == "www_access"]
                errors = [e for e in entries if e.type == "www_error"]
                return len(access) >= 3 and any(e.parse_error is None for e in errors)

            assert reader.wait_for(arrived, 30), daemon.log_text()
        finally:
            reader.close()
            assert daemon.stop() == 0, daemon.log_text()
    entries = reader.entries
    # httpd logs a request once it has answered it, from the worker that served it: the
    # three lines may be in any order.
    access = sorted(
        (e for e in entries if e.type == "www_access"),
        key=lambda e: ((e.fields or {}).get("method") != "HEAD", (e.fields or {}).get("status")),
    )
    assert [(e.fields or {}).get("method") for e in access] == ["HEAD", "GET", "GET"]
    assert all(e.parse_error is None and e.source == name for e in access)
    assert [e.fields["status"] for e in access] == [200, 200, 404]  # type: ignore[index]
    head = access[0].fields
    assert head is not None and "bytes" not in head
    assert head["bytes_sent"] > 0  # Debian's combined logs %O: the headers count
    errors = [e for e in entries if e.type == "www_error"]
    # error.log is declared by the main server and by the virtual host: the host's name
    assert {e.source for e in errors} == {socket.gethostname()}
    assert any("resuming normal operations" in e.log for e in errors if e.parse_error is None)
    text = daemon.log_text()
    assert "apache configuration: following" in text and "access.log" in text
