"""``--apache-config``: nicknames from the host's configuration, and one route per declared
log file (format, type, source), on Debian's package configuration (tests/data/apache)."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from logpipe.envelope import decode
from logpipe.formats.apacheconf import read_apache_config
from logpipe.logs2kafka.apache_logs import Routes, declared_routes, format_option
from logpipe.logs2kafka.cli import main
from logpipe.logs2kafka.pipeline import Route
from tests.support.paths import DATA

DEBIAN = DATA / "apache" / "debian" / "apache2.conf"
# A HEAD as Debian's httpd logs it: %O counts the headers sent (httpd's %b would log "-").
HEAD = b'127.0.0.1 - - [29/Nov/2026:14:10:27 +0000] "HEAD / HTTP/1.1" 200 274 "-" "curl/8"'


def test_parse_with_the_hosts_combined() -> None:
    result = CliRunner().invoke(
        main, ["parse", "--apache-config", str(DEBIAN), "--format", "combined"], input=HEAD
    )
    assert result.exit_code == 0, result.output
    (entry,) = [decode(line) for line in result.stdout_bytes.splitlines()]
    assert entry.fields is not None
    assert entry.fields["bytes_sent"] == 274  # %O: bytes sent with the headers
    assert "bytes" not in entry.fields
    # without the configuration, the preset: httpd's combined, %b
    plain = CliRunner().invoke(main, ["parse", "--format", "combined"], input=HEAD)
    assert decode(plain.stdout_bytes.splitlines()[0]).fields["bytes"] == 274


def test_formats_prints_what_the_configuration_declares() -> None:
    result = CliRunner().invoke(main, ["formats", "--apache-config", str(DEBIAN)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "presets (--format NAME):" in out
    assert 'combined        %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"' in out
    assert "/var/log/apache2/access.log  access  format=combined" in out
    assert "/var/log/apache2/error.log  error  format=error" in out


def test_unreadable_configuration_is_one_line() -> None:
    result = CliRunner().invoke(main, ["formats", "--apache-config", "/nonexistent/httpd.conf"])
    assert result.exit_code == 1
    assert "--apache-config: /nonexistent/httpd.conf: no such file" in result.output


def test_tail_needs_paths_or_a_configuration(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["tail", "--state-dir", str(tmp_path), "--dry-run"])
    assert result.exit_code == 1
    assert "give the PATHs to follow, or --apache-config" in result.output


def test_declared_routes_keep_each_files_format_type_and_source() -> None:
    config = read_apache_config(DEBIAN)
    paths, routes = declared_routes(config, {"format": None})
    assert paths == [
        "/var/log/apache2/error.log",
        "/var/log/apache2/other_vhosts_access.log",
        "/var/log/apache2/access.log",
    ]
    host = socket.gethostname().encode()
    access = routes.of("/var/log/apache2/access.log")
    assert access.key == host
    assert access.parser.type == "www_access"  # type: ignore[attr-defined]
    assert access.parser.spec.logformat == config.formats["combined"]  # type: ignore[attr-defined]
    error = routes.of("/var/log/apache2/error.log")
    assert error.parser.type == "www_error"  # type: ignore[attr-defined]
    vhosts = routes.of("/var/log/apache2/other_vhosts_access.log")
    assert vhosts.parser.spec.name == "vhost_combined"  # type: ignore[attr-defined]


def test_flags_override_what_was_declared() -> None:
    config = read_apache_config(DEBIAN)
    _paths, routes = declared_routes(
        config, {"format": "common", "source": "www9", "type": "web_access"}
    )
    access = routes.of("/var/log/apache2/access.log")
    assert access.key == b"www9"
    assert access.parser.type == "web_access"  # type: ignore[attr-defined]
    assert access.parser.spec.logformat == '%h %l %u %t "%r" %>s %O'  # type: ignore[attr-defined]
    # --format names access formats: the error log stays an error log
    error = routes.of("/var/log/apache2/error.log")
    assert error.parser.spec.name == "error"  # type: ignore[attr-defined]


def test_format_option_prefers_the_hosts_nickname() -> None:
    config = read_apache_config(DEBIAN)
    assert format_option({"format": "vhost_combined"}, config).logformat.startswith("%v:%p")  # type: ignore[union-attr]
    assert format_option({"format": "combinedio"}, config) == "combinedio"  # not in the host's
    assert format_option({"format": "combined"}, None) == "combined"


def test_rotated_generations_keep_their_files_route() -> None:
    a, b = Route(parser=None, key=b"a"), Route(parser=None, key=b"b")  # type: ignore[arg-type]
    routes = Routes({"/l/access.log": a, "/l/access.log.extra": b})
    assert routes.of("/l/access.log") is a
    assert routes.of("/l/access.log.1") is a
    assert routes.of("/l/access.log-20261129") is a
    assert routes.of("/l/access.log.extra.2") is b
    line = SimpleNamespace(file_id="f1", path="/l/access.log")
    assert routes.for_line(line) is a
    line.path = "/l/access.log.extra"  # renamed later: the file keeps the route it had
    assert routes.for_line(line) is a


def test_a_configuration_without_file_logs(tmp_path: Path) -> None:
    conf = tmp_path / "httpd.conf"
    conf.write_text('CustomLog "|/usr/bin/logger" common\nErrorLog syslog\n')
    with pytest.raises(ValueError, match="declares no CustomLog or ErrorLog that is a file"):
        declared_routes(read_apache_config(conf, env={}), {})
