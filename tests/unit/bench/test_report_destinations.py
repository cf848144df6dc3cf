"""``make bench-quick`` writes into bench/results/local/ (ignored by git); only a full run
writes the committed results (bench/results/latest.json, the charts, docs/benchmarks.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.paths import ROOT

sys.path.insert(0, str(ROOT / "bench"))
import report


def test_a_quick_run_leaves_the_committed_results_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report, "LOCAL", tmp_path / "local")
    committed = {p: p.read_bytes() for p in report.destinations(quick=False) if p.exists()}
    assert report.DOC in committed and report.RESULTS in committed
    results = json.loads(report.RESULTS.read_text())
    results["mode"] = "quick"
    written = report.write_all(results)
    assert written and all(path.parent == tmp_path / "local" for path in written)
    text = (tmp_path / "local" / "benchmarks.md").read_text()
    assert "**Quick run**" in text
    assert "![throughput per component](throughput.png)" in text  # beside it, in local/
    assert {p: p.read_bytes() for p in committed} == committed


def test_only_a_full_run_writes_the_committed_places() -> None:
    results, doc, throughput, memory = report.destinations(quick=False)
    assert results == ROOT / "bench" / "results" / "latest.json"
    assert doc == ROOT / "docs" / "benchmarks.md"
    assert {throughput.parent, memory.parent} == {ROOT / "bench" / "results"}
    assert all(p.parent == report.LOCAL for p in report.destinations(quick=True))


def test_git_ignores_the_quick_runs_folder() -> None:
    for name in ("latest.json", "benchmarks.md", "throughput.png"):
        done = subprocess.run(
            ["git", "check-ignore", "-q", f"bench/results/local/{name}"], cwd=ROOT, check=False
        )
        assert done.returncode == 0, name
