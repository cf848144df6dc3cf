"""A real Prometheus server (Debian's package prometheus, see ``make install``) on loopback,
scraping the given targets every second with logpipe's rules loaded: for the tests of the
rules and the dashboard, and for ``make demo DEMO_ARGS=--prometheus``."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from logpipe_testkit.ports import free_port

#: The rules as the checkout holds them (deploy/ is not installed with the package).
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "logpipe-rules.yml"


@dataclass
class Prometheus:
    port: int
    proc: subprocess.Popen

    def api(self, path: str, **params: str) -> dict:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}{query}"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        return self.api("query", query=expr)["result"]

    def firing(self) -> list[dict]:
        """The alerts firing now."""
        return [a for a in self.api("alerts")["alerts"] if a["state"] == "firing"]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def prometheus(root: Path, targets: dict[str, list[int]]) -> Iterator[Prometheus]:
    """Prometheus scraping ``job -> [loopback ports]`` every second, with logpipe's rules."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is not installed: run make install (Debian package prometheus)"
    root.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{p}" for p in ports]}]}
            for job, ports in targets.items()
        ],
    }
    (root / "prometheus.yml").write_text(json.dumps(config, indent=1))  # JSON is YAML
    port = free_port()
    out = open(root / "prometheus.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={root / 'prometheus.yml'}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    server = Prometheus(port, proc)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, (root / "prometheus.log").read_text()
                assert time.monotonic() < deadline, "prometheus not ready in 30 s"
                time.sleep(0.1)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        out.close()
