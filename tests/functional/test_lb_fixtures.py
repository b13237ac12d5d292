"""The load balancer's rewrite fixtures (tests/unit/lb/fixtures/) come from
scapy: regenerating them gives the committed header byte for byte. Needs
scapy, not root, namespaces or the data plane."""

from __future__ import annotations

import subprocess
import sys

import lab

FIXTURES = lab.REPO / "tests" / "unit" / "lb" / "fixtures"


def test_rewrite_fixtures_regenerate_identically(tmp_path):
    out = tmp_path / "rewrite_fixtures.hpp"
    cp = subprocess.run([sys.executable, str(FIXTURES / "gen_rewrite_fixtures.py"), "-o", str(out)],
                        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, f"generator failed:\n{cp.stdout}{cp.stderr}"
    committed = (FIXTURES / "rewrite_fixtures.hpp").read_text()
    assert out.read_text() == committed, (
        "tests/unit/lb/fixtures/rewrite_fixtures.hpp differs from what gen_rewrite_fixtures.py makes: "
        "regenerate it (and check the diff)")
