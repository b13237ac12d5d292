"""Renders a made-up benchmark results file through tests/perf/report.py,
for the tests of the report's sections (no DPDK process is started)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPORT = REPO / "tests/perf/report.py"


def render(tmp_path, doc):
    """docs/perf.md as report.py writes it for `doc`."""
    res = tmp_path / "perf.json"
    res.write_text(json.dumps(doc))
    page = tmp_path / "perf.md"
    p = subprocess.run([sys.executable, str(REPORT), "--results", str(res), "--markdown", str(page)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return page.read_text()
