"""The import rules of the house (the contracts in pyproject.toml) hold for the code as it is.

Which package may talk to Kafka, to Cassandra or to click, and that the two daemons and the
shared modules stay apart, is checked by import-linter on the real import graph of
``logpipe`` and ``logpipe_testkit``: a broken rule fails here with the import chain that
breaks it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.paths import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_every_import_contract_is_kept() -> None:
    result = subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", report), report
