"""Every example config parses with `sluice-dp --check-config` (no EAL), and
a broken one is refused with the file and line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

import lab

EXAMPLES = sorted(p for p in (lab.REPO / "config" / "examples").glob("*")
                  if p.suffix in (".yaml", ".yml"))


def _check(binary: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(binary), "--check-config", str(path)], capture_output=True,
                          text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_examples_exist():
    assert EXAMPLES, "config/examples has no .yaml files"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_parses(dp_binary, path):
    cp = _check(dp_binary, path)
    assert cp.returncode == 0, f"{path}: rc={cp.returncode}\n{cp.stdout}{cp.stderr}"


def test_check_config_rejects_broken(dp_binary, tmp_path):
    topo = lab.Topology(hosts=2, prefix="sltchk")
    good = tmp_path / "good.yaml"
    good.write_text(lab.render_config(topo, routes=[{"prefix": "198.19.0.0/24",
                                                     "via": "198.18.2.2"}]))
    cp = _check(dp_binary, good)
    assert cp.returncode == 0, f"generated lab config refused:\n{cp.stdout}{cp.stderr}"

    text = good.read_text().replace("198.19.0.0/24", "198.19.0.0/33")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text)
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if "/33" in ln)
    cp = _check(dp_binary, bad)
    assert cp.returncode == 1, f"rc={cp.returncode}\n{cp.stdout}{cp.stderr}"
    assert f"{bad}:{line}" in cp.stdout + cp.stderr, cp.stdout + cp.stderr
