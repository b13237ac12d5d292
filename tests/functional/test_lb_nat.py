"""The load balancer in NAT mode (docs/lb.md), with real kernel hosts:
client a, backends b, c and d running HTTP and UDP servers that say who
they are (lb_lab.LbEnv), VIPs web4 (198.18.100.1) and web6 (2001:db8:100::1),
TCP and UDP port 80, backends on port 8080 (the servers listen only
there). The backends' default routes point back through the data plane,
which rewrites their replies to come from the VIP: that the client's
sockets, connected to VIP:80, accept them proves the reverse rewrite and
its checksums. The checks shared with DSR mode are lab.lb_check_*; this
file adds what only NAT does."""

from __future__ import annotations

import pytest

import lab

import lb_lab

MODE = "nat"
BACKEND_PORT = 8080
# The LB tests outlive udp_timeout's default (30 s) on a slow machine.
LB_SETTINGS = {"udp_timeout": 300}


@pytest.fixture
def env(request, dp_binary):
    def make(tag: str, backend_port: int | None = BACKEND_PORT, **kw) -> lb_lab.LbEnv:
        e = lb_lab.LbEnv(MODE, tag=tag, binary=dp_binary, lb=LB_SETTINGS,
                      backend_port=backend_port, **kw)
        request.addfinalizer(e.close)
        try:
            e.start()
        except lab.LabError as err:
            pytest.fail(f"load balancer lab did not start: {err}{e.describe()}", pytrace=False)
        return e
    return make


def _check_rewritten(e: lb_lab.LbEnv, fam: int, udp: list, tcp: list, port: int):
    """As the backends saw each flow ([flow, reply] pairs): to their own
    address and `port`, from the client's address and source port, routed
    (TTL 63: the client sends 64)."""
    for what, pairs in (("UDP", udp), ("TCP", tcp)):
        bad = [(f, r) for f, r in pairs
               if r["l"] != [e.backend_address(r["n"], fam), port] or r["p"] != [f[0], f[1]]
               or (what == "UDP" and r["t"] != 63)]
        assert not bad, (f"IPv{fam} {what} as the backends saw it (want to the backend's "
                         f"address, port {port}, from the client's address and port, TTL 63): "
                         f"{bad[:5]}")


@pytest.mark.parametrize("fam", [4, 6], ids=["ipv4", "ipv6"])
def test_spread_and_port_rewrite(env, fam):
    """3000 UDP flows and 3000 TCP connections to VIP:80 spread within 10%
    of even over backends listening on 8080; replies come back from VIP:80."""
    e = env(f"ns{fam}")
    seen = lb_lab.lb_check_spread(e, fam)
    print(f"IPv{fam} {MODE}: UDP flows per backend {seen['udp_counts']}, "
          f"TCP connections {seen['tcp_counts']}")
    _check_rewritten(e, fam, list(zip(seen["udp_flows"], seen["udp"]["results"])),
                     list(zip(seen["tcp_flows"], seen["tcp"])), BACKEND_PORT)


def test_port_kept_without_backend_port(env):
    """Backends without a port: only the address is rewritten (VIP port
    8081, servers on 8081)."""
    e = env("nk", backend_port=None, vip_port=8081)
    for fam in (4, 6):
        udp_flows, tcp_flows = e.flows(fam, range(28000, 28300)), e.flows(fam, range(39000, 39150))
        udp = e.client.udp(udp_flows)["results"]
        tcp = e.client.tcp(tcp_flows)
        lb_lab.lb_names(e, udp, f"IPv{fam} UDP flows")
        lb_lab.lb_names(e, tcp, f"IPv{fam} TCP connections")
        _check_rewritten(e, fam, list(zip(udp_flows, udp)), list(zip(tcp_flows, tcp)), 8081)


@pytest.mark.parametrize("fam", [4, 6], ids=["ipv4", "ipv6"])
def test_which_and_counters(env, fam):
    lb_lab.lb_check_which(env(f"nw{fam}"), fam)


def test_drain_keeps_established_flows(env):
    lb_lab.lb_check_drain(env("nd"))


def test_remove_moves_only_its_flows(env):
    seen = lb_lab.lb_check_remove(env("nr"))
    print(f"Maglev 3 -> 2 backends: {seen['maglev_others_moved']} of {seen['maglev_others']} "
          f"not yet started flows of the remaining backends moved")


def test_restart_keeps_every_flow_on_its_backend(env):
    lb_lab.lb_check_restart(env("nx"))


def test_echo_to_vip_answered(env):
    lb_lab.lb_check_echo(env("ne"))
