"""The load balancer in L2 DSR mode (docs/lb.md), with real kernel hosts:
client a, backends b, c and d running HTTP and UDP servers that say who
they are (lb_lab.LbEnv), VIPs web4 (198.18.100.1) and web6 (2001:db8:100::1),
TCP and UDP port 80. The backends hold the VIPs on their loopback and
answer the client directly. The checks shared with NAT mode are
lab.lb_check_*; this file adds what only DSR does."""

from __future__ import annotations

import pytest

import lab

import lb_lab

MODE = "l2_dsr"
# The LB tests outlive udp_timeout's default (30 s) on a slow machine.
LB_SETTINGS = {"udp_timeout": 300}


@pytest.fixture
def env(request, dp_binary):
    def make(tag: str, **kw) -> lb_lab.LbEnv:
        e = lb_lab.LbEnv(MODE, tag=tag, binary=dp_binary, lb=LB_SETTINGS, **kw)
        request.addfinalizer(e.close)
        try:
            e.start()
        except lab.LabError as err:
            pytest.fail(f"load balancer lab did not start: {err}{e.describe()}", pytrace=False)
        return e
    return make


@pytest.mark.parametrize("fam", [4, 6], ids=["ipv4", "ipv6"])
def test_spread_and_direct_reply(env, fam):
    """3000 UDP flows and 3000 TCP connections spread within 10% of even;
    every backend saw the packet unchanged but for the MAC (destination
    the VIP, TTL 64 as the client sent it) and answered from the VIP
    straight to the client, whose sockets are connected to the VIP."""
    e = env(f"ds{fam}")
    seen = lb_lab.lb_check_spread(e, fam)
    print(f"IPv{fam} {MODE}: UDP flows per backend {seen['udp_counts']}, "
          f"TCP connections {seen['tcp_counts']}")
    vip = e.vip(fam)
    for what, flows, results in (("UDP", seen["udp_flows"], seen["udp"]["results"]),
                                 ("TCP", seen["tcp_flows"], seen["tcp"])):
        bad = [(f, r) for f, r in zip(flows, results)
               if r["l"] != [vip, 80] or r["p"] != [f[0], f[1]]
               or (what == "UDP" and r["t"] != 64)]
        assert not bad, (f"IPv{fam} {what} as the backends saw it (want to {vip}:80 from the "
                         f"client's address and port, TTL 64 as sent): {bad[:5]}")


@pytest.mark.parametrize("fam", [4, 6], ids=["ipv4", "ipv6"])
def test_which_and_counters(env, fam):
    lb_lab.lb_check_which(env(f"dw{fam}"), fam)


def test_drain_keeps_established_flows(env):
    lb_lab.lb_check_drain(env("dd"))


def test_remove_moves_only_its_flows(env):
    seen = lb_lab.lb_check_remove(env("dr"))
    print(f"Maglev 3 -> 2 backends: {seen['maglev_others_moved']} of {seen['maglev_others']} "
          f"not yet started flows of the remaining backends moved")


def test_restart_keeps_every_flow_on_its_backend(env):
    lb_lab.lb_check_restart(env("dx"))


def test_echo_to_vip_answered(env):
    lb_lab.lb_check_echo(env("de"))
