"""The control process's Prometheus endpoint (docs/control.md, "Metrics"):
scraped with curl, checked with promtool, and its values agree with the
data plane's own counters."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from control_lab import METRICS, ControlEnv, wait_synced, started_env


@pytest.fixture(scope="module")
def env(request):
    e = started_env(request, "nat", "cm", backend_port=8080)
    e.env.client.udp(e.env.flows(4, range(50000, 50200)))
    return e


def scrape(env: ControlEnv) -> str:
    cp = env.mgmt.run(["curl", "-sS", "--max-time", "10", f"http://{METRICS}/metrics"], timeout=20)
    return cp.stdout


def samples(text: str, name: str) -> list[tuple[str, float]]:
    out = []
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(\{{.*\}})?\s+(\S+)", line)
        if m:
            out.append((m.group(1) or "", float(m.group(2))))
    return out


def test_promtool_accepts_the_endpoint(env):
    text = scrape(env)
    assert text.strip(), "empty scrape"
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed")
    cp = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, f"promtool: {cp.stdout}{cp.stderr}\n--- scrape ---\n{text[:3000]}"


def test_metrics_cover_ports_drops_vips_backends_health(env):
    text = scrape(env)
    for name in ("sluice_dataplane_up", "sluice_drops_total", "sluice_vip_packets_total",
                 "sluice_backend_packets_total", "sluice_health_checks_total",
                 "sluice_health_check_duration_seconds_bucket"):
        assert samples(text, name), f"no {name} in the scrape:\n{text[:4000]}"
    assert any(v == 1 for _, v in samples(text, "sluice_dataplane_up"))
    assert any("port=" in labels for name in ("sluice_port_rx_packets_total",) for labels, _ in samples(text, name)), \
        "no per-port packets"
    assert any("queue=" in labels for labels, _ in samples(text, "sluice_port_queue_rx_packets_total")), \
        "no per-queue packets"
    # The VIP's packets agree with the data plane's telemetry (within the
    # health-check traffic that may arrive between the two reads: none goes to a VIP).
    tele = env.lab.lb_vips()["web4"]
    vip = [v for labels, v in samples(text, "sluice_vip_packets_total") if 'vip="web4"' in labels]
    assert vip and vip[0] == int(tele["packets"]), (vip, tele)


def test_dataplane_gone_metrics_say_so(env):
    env.lab.stop_dataplane()
    try:
        text = scrape(env)
        assert any(v == 0 for _, v in samples(text, "sluice_dataplane_up")), text[:2000]
    finally:
        env.lab.start_dataplane()
        wait_synced(env)
