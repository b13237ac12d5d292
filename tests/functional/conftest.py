"""Fixtures for the functional tests: a data plane on net_tap ports with
kernel hosts in network namespaces (see lab.py). Everything created here is
removed by finalizers, also when a test fails."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import channel_lab  # noqa: E402
import lab  # noqa: E402

# Static neighbor used by the neighbor test; lives on port b, never answers.
STATIC_NEIGHBOR = {"address": "198.18.2.99", "mac": "02:5e:00:00:99:99", "port": "b"}
STATIC_NEIGHBOR6 = {"address": "2001:db8:2::99", "mac": "02:5e:00:00:99:66", "port": "b"}


def _require_root():
    if os.geteuid() != 0:
        pytest.fail("functional tests need root (network namespaces, tap devices)")
    for tool in ("ip", "ping", "curl", "traceroute"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} not installed: run tests/lab/install-deps.sh")


def pytest_sessionstart(session):
    if os.geteuid() == 0:
        removed = lab.cleanup_stale()
        if removed:
            print(f"removed stale namespaces: {removed}")


@pytest.fixture(scope="session")
def dp_binary() -> Path:
    _require_root()
    b = lab.binary_path()
    if not b.exists():
        pytest.fail(f"data plane binary missing: {b} (build with tests/lab/build.sh)")
    return b


def start_lab(request, the_lab: lab.Lab) -> lab.Lab:
    """Starts a lab built by the caller (closed by a finalizer of `request`,
    also when it does not start); a lab that does not start fails the test."""
    request.addfinalizer(the_lab.close)
    try:
        the_lab.start()
    except lab.LabError as e:
        pytest.fail(f"lab did not start: {e}{the_lab.describe()}", pytrace=False)
    return the_lab


# The capture labs' data plane takes about 160 2 MB pages, dumpcap a few more.
CAPTURE_HUGEPAGES = 220


def start_hugepage_lab(request, tag: str, binary: Path) -> channel_lab.HugepageLab:
    """A started two-host lab on hugepages, for dpdk-dumpcap (see start_lab);
    skips the test when too few 2 MB pages are free, even after reserving."""
    free = channel_lab.ensure_hugepages(CAPTURE_HUGEPAGES)
    if free < CAPTURE_HUGEPAGES:
        pytest.skip(f"{free} free 2 MB hugepages, {CAPTURE_HUGEPAGES} needed (tests/lab/hugepages.sh)")
    return start_lab(request, channel_lab.HugepageLab(tag=tag, hosts=2, binary=binary))


def _make_lab(request, tag: str, **kw) -> lab.Lab:
    return start_lab(request, lab.Lab(tag=tag, **kw))


@pytest.fixture(scope="module")
def router(request, dp_binary) -> lab.Lab:
    """Two hosts, a and b, one static neighbor; shared by the read-mostly tests."""
    # A tag per module: one module's lab is gone before the next one starts,
    # but distinct names make that irrelevant.
    tag = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")[:3]
    return _make_lab(request, tag, hosts=2, binary=dp_binary,
                     neighbors=[STATIC_NEIGHBOR, STATIC_NEIGHBOR6])


@pytest.fixture
def router3(request, dp_binary):
    """Factory for a fresh three-host lab (reload tests change its config)."""
    labs = []

    def make(tag: str, routes=(), neighbors=(), hosts: int = 3, **kw) -> lab.Lab:
        labs.append(tag)
        return _make_lab(request, tag, hosts=hosts, binary=dp_binary, routes=routes,
                         neighbors=neighbors, **kw)

    return make


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the data plane's recent output to the report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.when != "call" or rep.passed:
        return
    for name in ("router",):
        the_lab = item.funcargs.get(name) if hasattr(item, "funcargs") else None
        if isinstance(the_lab, lab.Lab):
            rep.sections.append((f"data plane output ({name})", the_lab.describe()))
