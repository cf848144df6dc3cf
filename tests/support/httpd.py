"""Debian's real Apache httpd (``apt-get install apache2``, see ``make install``) on loopback.

The host's own configuration (/etc/apache2, as the package installed it) is copied to a
temporary directory and changed only where a test must: ``envvars`` points the log, run
and lock directories into the copy, ``ports.conf`` listens on a free loopback port, and the
default site answers on that port with a ServerName. Everything else (apache2.conf's
LogFormats, the enabled modules, conf-enabled/, sites-enabled/) is the package's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from logpipe.formats.apacheconf import read_envvars
from logpipe_testkit.ports import free_ports

APACHE2 = "/usr/sbin/apache2"
DEBIAN_CONFIG = Path("/etc/apache2")


@dataclass
class Httpd:
    """A running httpd: its configuration copy, log directory and loopback port."""

    conf: Path
    log_dir: Path
    port: int
    server_name: str
    proc: subprocess.Popen

    @property
    def main_config(self) -> Path:
        return self.conf / "apache2.conf"

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def debian_config_copy(root: Path, port: int, server_name: str) -> Path:
    """The package's /etc/apache2 copied under ``root``, pointed at ``root`` and ``port``."""
    conf = root / "apache2"
    shutil.copytree(DEBIAN_CONFIG, conf, symlinks=True)
    for name in ("log", "run", "lock"):
        (root / name).mkdir()
    with open(conf / "envvars", "a") as f:
        f.write(
            f"\nexport APACHE_LOG_DIR={root / 'log'}\n"
            f"export APACHE_RUN_DIR={root / 'run'}\n"
            f"export APACHE_PID_FILE={root / 'run' / 'apache2.pid'}\n"
            f"export APACHE_LOCK_DIR={root / 'lock'}\n"
        )
    (conf / "ports.conf").write_text(f"Listen 127.0.0.1:{port}\n")
    site = conf / "sites-enabled" / "000-default.conf"
    text = site.read_text().replace("<VirtualHost *:80>", f"<VirtualHost *:{port}>", 1)
    text = text.replace("\tServerAdmin", f"\tServerName {server_name}\n\tServerAdmin", 1)
    site.unlink()  # a symlink into sites-available: write the copy's own file
    site.write_text(text)
    return conf


def wait_listening(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"httpd does not listen on {port}")


@contextlib.contextmanager
def debian_httpd(root: Path, server_name: str) -> Iterator[Httpd]:
    """httpd in the foreground on a free loopback port, started as ``apache2ctl`` starts it
    (the environment of its ``envvars``); stopped (SIGTERM, then SIGKILL) on exit."""
    (port,) = free_ports(1)
    conf = debian_config_copy(root, port, server_name)
    env = read_envvars(conf, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    out = open(root / "httpd.out", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [APACHE2, "-d", str(conf), "-f", str(conf / "apache2.conf"), "-DFOREGROUND"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            wait_listening(port, 15)
        except TimeoutError:
            proc.poll()
            raise AssertionError(
                f"httpd did not start (exit {proc.returncode}): "
                + (root / "httpd.out").read_text(errors="replace")
            ) from None
        yield Httpd(conf, root / "log", port, server_name, proc)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        out.close()
