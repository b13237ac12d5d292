"""Two data planes joined only by an RDMA link (docs/rdma.md), on the
software stand-in: node A with a client host on 198.18.1.0/24, node B with
a server host on 198.18.2.0/24 and two backends on 198.18.3.0/24 and
198.18.4.0/24 behind a NAT VIP (198.18.100.1, 2001:db8:100::1). The
point-to-point link is 198.18.250.0/30 and 2001:db8:250::/64; A listens
for the exchange on a free loopback port, B connects to it.

Each node is a lab.Lab (its own --file-prefix, its own namespaces); they
are two DPDK processes on the same two cores, so both run with the idle
back-off (lab.render_config's default)."""

from __future__ import annotations

import socket
from pathlib import Path

import lab
from lab import Lab, PortSpec, Topology, render_config, wait_until

LINK_A4, LINK_B4 = "198.18.250.1", "198.18.250.2"
LINK_A6, LINK_B6 = "2001:db8:250::1", "2001:db8:250::2"
VIP4, VIP6 = "198.18.100.1", "2001:db8:100::1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def render_rdma(peers: list[dict]) -> str:
    """The `rdma:` section (docs/config.md, "rdma")."""
    out = ["rdma:", "  peers:"]
    for p in peers:
        items = list(p.items())
        k, v = items[0]
        out.append(f"    - {k}: {lab._yaml_scalar(v)}")
        out += [f"      {k}: {lab._yaml_scalar(v)}" for k, v in items[1:]]
    return "\n".join(out) + "\n"


class RdmaNode(Lab):
    """A Lab whose ports sit on the given 198.18.<n>.0/24 subnets, with an
    `rdma:` section."""

    def __init__(self, *, subnets: list[int], rdma: list[dict], **kw):
        super().__init__(hosts=len(subnets), **kw)
        ports = []
        for i, n in enumerate(subnets):
            key = "abcdef"[i]
            ports.append(PortSpec(key=key, index=i, tap=f"{self.prefix}{key}"[:15],
                                  router_v4=f"198.18.{n}.1", router_v6=f"2001:db8:{n}::1",
                                  host_v4=f"198.18.{n}.2", host_v6=f"2001:db8:{n}::2"))
        self.topo = Topology(hosts=len(subnets), prefix=self.prefix, ports=ports)
        self.rdma = rdma

    def write_config(self, text: str | None = None, path: Path | None = None) -> Path:
        if text is None:
            text = render_config(self.topo, routes=self.routes, neighbors=self.neighbors,
                                 vips=self.vips, lb=self.lb, control=self.control,
                                 extra=render_rdma(self.rdma))
        return super().write_config(text, path)

    def rdma_peer(self, name: str = "r0") -> dict:
        return self.tele("/sluice/rdma")[name]


def peer_spec(name: str, *, listen: str | None = None, connect: str | None = None,
              ours: tuple[str, str], theirs: tuple[str, str], **extra) -> dict:
    p = {"name": name, "device": "standin"}
    if listen:
        p["listen"] = listen
    if connect:
        p["connect"] = connect
    p["addresses"] = [f"{ours[0]}/30", f"{ours[1]}/64"]
    p["peer_addresses"] = [theirs[0], theirs[1]]
    p.update(extra)
    return p


class RdmaPair:
    """Node A (client) and node B (server, backends, VIPs) joined by peer r0."""

    def __init__(self, *, tag: str, binary: Path | None = None, mode: str = "nat",
                 peer_extra: dict | None = None):
        self.port = free_port()
        addr = f"127.0.0.1:{self.port}"
        extra = peer_extra or {}
        self.a = RdmaNode(
            tag=f"{tag}a", binary=binary, subnets=[1],
            rdma=[peer_spec("r0", listen=addr, ours=(LINK_A4, LINK_A6), theirs=(LINK_B4, LINK_B6), **extra)],
            routes=[{"prefix": "198.18.0.0/16", "via": LINK_B4},
                    {"prefix": "2001:db8::/32", "via": LINK_B6}])
        backends4 = [{"address": "198.18.3.2", "port": 8080}, {"address": "198.18.4.2", "port": 8080}]
        backends6 = [{"address": "2001:db8:3::2", "port": 8080}, {"address": "2001:db8:4::2", "port": 8080}]
        vips = [{"name": "web4", "address": VIP4, "protocol": "tcp", "port": 80, "mode": mode,
                 "backends": backends4},
                {"name": "web6", "address": VIP6, "protocol": "tcp", "port": 80, "mode": mode,
                 "backends": backends6}]
        self.b = RdmaNode(
            tag=f"{tag}b", binary=binary, subnets=[2, 3, 4],
            rdma=[peer_spec("r0", connect=addr, ours=(LINK_B4, LINK_B6), theirs=(LINK_A4, LINK_A6), **extra)],
            routes=[{"prefix": "198.18.1.0/24", "via": LINK_A4},
                    {"prefix": "2001:db8:1::/64", "via": LINK_A6}],
            vips=vips)

    def start(self) -> "RdmaPair":
        try:
            self.a.start()
            self.b.start()
            self.wait_up()
        except BaseException:
            self.close()
            raise
        return self

    def wait_up(self, timeout: float = 30, connects: int = 1):
        for node in (self.a, self.b):
            wait_until(lambda: node.rdma_peer()["state"] == "up"
                       and node.rdma_peer().get("connects", 0) >= connects,
                       timeout=timeout, what=f"rdma peer r0 of {node.prefix} up",
                       describe=lambda: f"{node.rdma_peer()}\n{node.tail(30)}")

    def close(self):
        self.b.close()
        self.a.close()

    def describe(self) -> str:
        return ("\n--- node A ---\n" + self.a.describe() + "\n--- node B ---\n" + self.b.describe())
