"""Health checks through the control process (docs/control.md): a backend
whose HTTP server dies leaves the data plane's Maglev table within
interval x fall + 100 ms, and comes back after `rise` successes; new flows
follow the table. The failure-to-table latency is measured over 20 trials
and recorded (test-results/control-figures.json)."""

from __future__ import annotations

import pytest

from control_lab import FAST_HEALTH, ControlEnv, percentile, record_figure, started_env
from lb_lab import lb_names

TRIALS = 20
BOUND_S = (FAST_HEALTH["interval_ms"] * FAST_HEALTH["fall"] + 100) / 1000.0


@pytest.fixture(scope="module")
def env(request):
    return started_env(request, "l2_dsr", "ch")


def new_flow_names(env: ControlEnv, base: int, n: int = 300) -> list[str]:
    flows = env.env.flows(4, range(base, base + n))
    return lb_names(env.env, env.env.client.udp(flows)["results"], f"{n} new UDP flows")


def test_failure_leaves_table_within_bound_and_rise_brings_back(env):
    down_latency, up_latency = [], []
    for i in range(TRIALS):
        t_kill = env.kill_server("c")
        t_down = env.wait_dp_state("c", "down", timeout=5)
        down_latency.append(t_down - t_kill)
        t_start = env.start_server("c")
        t_up = env.wait_dp_state("c", "up", timeout=10)
        up_latency.append(t_up - t_start)
    ms = sorted(round(x * 1000, 1) for x in down_latency)
    fig = {"trials": TRIALS, "interval_ms": FAST_HEALTH["interval_ms"], "fall": FAST_HEALTH["fall"],
           "rise": FAST_HEALTH["rise"], "bound_ms": BOUND_S * 1000,
           "down_ms": {"min": ms[0], "median": percentile(ms, 0.5), "p90": percentile(ms, 0.9), "max": ms[-1],
                       "all": ms},
           "up_ms": {"median": round(percentile(up_latency, 0.5) * 1000, 1),
                     "max": round(max(up_latency) * 1000, 1)}}
    record_figure("failure_to_table", fig)
    print("failure to table:", fig)
    late = [x for x in ms if x > BOUND_S * 1000]
    assert not late, f"trials above interval x fall + 100 ms = {BOUND_S * 1000} ms: {late}; all: {ms}" + \
        env.describe()
    # Up again needs `rise` successful probes: never sooner than rise - 1 intervals.
    assert min(up_latency) >= (FAST_HEALTH["rise"] - 1) * FAST_HEALTH["interval_ms"] / 1000.0 * 0.5


def test_down_backend_gets_no_new_flows_and_returns(env):
    env.kill_server("d")
    env.wait_dp_state("d", "down", timeout=5)
    names = new_flow_names(env, 20000)
    assert "d" not in names, f"a down backend got new flows: {sorted(set(names))}" + env.describe()
    assert set(names) == {"b", "c"}, f"flows went to {sorted(set(names))}" + env.describe()
    env.start_server("d")
    env.wait_dp_state("d", "up", timeout=10)
    names = new_flow_names(env, 30000)
    assert set(names) == {"b", "c", "d"}, f"after rise, new flows went to {sorted(set(names))}" + env.describe()


def test_health_shown_by_cli_and_transitions_logged(env):
    env.kill_server("b")
    env.wait_dp_state("b", "down", timeout=5)
    health = env.ctl_json("show", "health")
    text = str(health)
    assert "198.18.2.2" in text and "down" in text, f"show health: {health}"
    env.start_server("b")
    env.wait_dp_state("b", "up", timeout=10)
    out = env.control.output()
    assert "198.18.2.2" in out and "down" in out, "the control process logs no transition" + env.describe()
