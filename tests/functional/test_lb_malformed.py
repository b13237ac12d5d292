"""Malformed and unusual traffic to VIPs (docs/lb.md, "Malformed VIP
traffic"), sent by the client with scapy-built frames through the real data
plane, VIPs in l2_dsr mode so that what reaches a backend is the packet
sent, byte for byte (only the MAC addresses change):

- truncated L4 header: dropped, lb_l4_truncated;
- unknown protocol, or a port no VIP serves: dropped, lb_no_vip_port;
- fragments: balanced by addresses and protocol, so every fragment of a
  datagram reaches the same backend, first or not, in any order; never
  tracked; a non-first fragment to an address with two port VIPs of its
  protocol and no all-ports VIP: dropped, lb_fragment;
- TCP without SYN for an unknown flow: balanced by Maglev and tracked;
- bad L4 checksum: not verified, forwarded unchanged;
- ICMP fragmentation needed / packet too big sent to a VIP, quoting a
  VIP -> client packet: delivered to the backend owning that flow.

Each case is judged against a quiet data plane: the drop counters move by
exactly what was sent, and the backends' captures (tcpdump in their
namespaces) hold exactly the packets expected to be forwarded. At the end
the data plane is alive and forwarding, and the lb_* counters add up to
everything the module sent."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP, fragment, in4_chksum
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, fragment6, in6_chksum
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import checksum

import lab

VIP4 = "198.18.100.1"       # web4 (tcp 80), dns4 (udp 53): one VIP per protocol
VIP4_TWO = "198.18.100.2"   # udp 53 and udp 54, no all-ports VIP
VIP6 = "2001:db8:100::1"    # web6, dns6
VIP6_TWO = "2001:db8:100::2"  # udp 53 and udp 54
BACKENDS = ("b", "c", "d")
CAPTURE_BPF = (f"ip dst {VIP4} or ip dst {VIP4_TWO} or ip6 dst {VIP6} or ip6 dst {VIP6_TWO}")
# Drops the kernel hosts cause on their own: right after their addresses are
# configured they send MLD reports to ff02::16, which the router does not
# serve (local_unsupported), for a second or two, i.e. into the first test.
# Not this module's packets: left out of the exact drop deltas.
BACKGROUND_DROPS = frozenset({"local_unsupported"})
LB_REASONS = ("lb_no_vip_port", "lb_l4_truncated", "lb_fragment", "lb_no_backend",
              "lb_backend_down", "lb_too_big", "lb_icmp_unsupported")

# lb_* drops this module expects so far (test_still_forwarding adds them up).
LEDGER: dict[str, int] = {}


# --------------------------------------------------------------------------
# config and lab


def _vip(name: str, address: str, proto: str, port: int) -> str:
    ys = lab.yaml_str
    v6 = ":" in address
    backends = [(f"2001:db8:{2 + i}::2" if v6 else f"198.18.{2 + i}.2")
                for i in range(len(BACKENDS))]
    return "\n".join([f"  - name: {name}", f"    address: {ys(address)}",
                      f"    protocol: {proto}", f"    port: {port}", "    mode: l2_dsr",
                      "    backends:"] + [f"      - address: {ys(b)}" for b in backends])


VIPS = [
    _vip("web4", VIP4, "tcp", 80), _vip("dns4", VIP4, "udp", 53),
    _vip("two4_53", VIP4_TWO, "udp", 53), _vip("two4_54", VIP4_TWO, "udp", 54),
    _vip("web6", VIP6, "tcp", 80), _vip("dns6", VIP6, "udp", 53),
    _vip("two6_53", VIP6_TWO, "udp", 53), _vip("two6_54", VIP6_TWO, "udp", 54),
]


class _LbLab(lab.Lab):
    """A lab whose config carries a vips: section (lb_extra) from the start."""
    lb_extra = ""

    def write_config(self, text: str | None = None, path: Path | None = None) -> Path:
        if text is None:
            text = lab.render_config(self.topo, routes=self.routes, neighbors=self.neighbors,
                                     extra=self.lb_extra, control=self.control)
        return super().write_config(text, path)


@pytest.fixture(scope="module")
def lb(request, dp_binary) -> _LbLab:
    the_lab = _LbLab(tag="fmal", hosts=4, binary=dp_binary)
    the_lab.lb_extra = "vips:\n" + "\n".join(VIPS) + "\n"
    request.addfinalizer(the_lab.close)
    try:
        the_lab.start()
    except lab.LabError as e:
        pytest.fail(f"lab with l2_dsr VIPs did not start: {e}{the_lab.describe()}", pytrace=False)
    a = the_lab.hosts["a"]
    for k in BACKENDS:
        h = the_lab.hosts[k]
        for dst in (h.v4, h.v6):
            r = lab.ping(a, dst, count=2, interval=0.1)
            assert r["loss"] == 0, r["out"] + the_lab.describe()
    vips = the_lab.tele("/sluice/lb/vips")
    assert isinstance(vips, dict) and vips.get("vips") == len(VIPS), \
        f"/sluice/lb/vips does not list the {len(VIPS)} VIPs configured: {vips}" \
        + the_lab.describe()
    drops = the_lab.drops()
    missing = [r for r in LB_REASONS if r not in drops]
    assert not missing, f"/sluice/drops has no {missing}: {sorted(drops)}"
    the_lab.lb_drops0 = {r: drops[r] for r in LB_REASONS}
    LEDGER.clear()
    return the_lab


# --------------------------------------------------------------------------
# sending and capturing (as in test_lb_encap.py)

from lb_capture import Capture, send_frames, stop_captures  # noqa: E402


# --------------------------------------------------------------------------
# packets


@dataclass
class Pkt:
    label: str
    l3: bytes
    frame: bytes = b""


def l3_len(l3: bytes) -> int:
    """The IP packet's own length (a short frame may carry padding)."""
    if l3 and l3[0] >> 4 == 4:
        return struct.unpack("!H", l3[2:4])[0]
    return 40 + struct.unpack("!H", l3[4:6])[0]


def with_frames(the_lab: lab.Lab, pkts: list[Pkt]) -> list[Pkt]:
    a = the_lab.hosts["a"]
    rmac = the_lab.router_mac("a")
    for p in pkts:
        et = 0x0800 if p.l3[0] >> 4 == 4 else 0x86DD
        p.frame = bytes(Ether(dst=rmac, src=a.mac, type=et)) + p.l3
    return pkts


def which(the_lab: lab.Lab, proto: str, src: str, sport: int, dst: str, dport: int) -> dict:
    w = the_lab.tele("/sluice/lb/which", f"{proto},{src},{sport},{dst},{dport}")
    assert isinstance(w, dict) and "backend" in w, \
        f"/sluice/lb/which,{proto},{src},{sport},{dst},{dport}: {w}"
    return w


def backend_addr(text) -> str:
    return str(text).split()[0] if str(text).strip() else ""


def host_of(the_lab: lab.Lab, addr: str) -> str:
    if not addr:
        return "(none)"
    for k, h in the_lab.hosts.items():
        if ipaddress.ip_address(addr) in (ipaddress.ip_address(h.v4), ipaddress.ip_address(h.v6)):
            return k
    return f"? {addr}"


def vip_stats(the_lab: lab.Lab, name: str) -> dict:
    v = the_lab.tele("/sluice/lb/vips")
    for page in range(1, 10):
        if name in v:
            return v[name]
        if int(v.get("pages", 1)) <= page:
            break
        v = the_lab.tele("/sluice/lb/vips", str(page))
    raise AssertionError(f"/sluice/lb/vips has no {name}: {v}")


# --------------------------------------------------------------------------
# one case: send, wait, judge


def run_case(the_lab: _LbLab, name: str, pkts: list[Pkt], *, drops: dict[str, int],
             forwarded: int) -> tuple[dict[str, list[bytes]], list[str]]:
    """Sends the packets from the client with captures on every backend;
    waits for the drop counters to reach `drops` and for `forwarded` frames
    at the backends, then for a quiet data plane. Returns (frames per
    backend, failures): the drop counters must have moved by exactly
    `drops`, and exactly `forwarded` frames must have been captured."""
    the_lab.assert_alive()
    with_frames(the_lab, pkts)
    failures: list[str] = []
    caps = {k: Capture(the_lab.hosts[k], the_lab.workdir / f"{name}-{k}.pcap", CAPTURE_BPF)
            for k in BACKENDS}
    try:
        base = the_lab.wait_quiescent(what=f"a quiet data plane before {name}")
        d0, rx0 = base["drops"], base["ports"]["a"]["rx_packets"]
        send_frames(the_lab.hosts["a"], [p.frame for p in pkts])
        for reason, n in drops.items():
            LEDGER[reason] = LEDGER.get(reason, 0) + n
        try:
            for reason, n in drops.items():
                lab.wait_counter(the_lab, "/sluice/drops", reason,
                                 lambda v, n0=d0.get(reason, 0), n=n: v - n0 >= n,
                                 what=f"{reason} to rise by {n} ({name})")
            lab.wait_until(lambda: sum(len(c.frames()) for c in caps.values()) >= forwarded,
                           timeout=10, what=f"{forwarded} frames at the backends ({name})",
                           describe=lambda: {k: len(c.frames()) for k, c in caps.items()})
            after = the_lab.wait_quiescent(rx_at_least={"a": rx0 + len(pkts)},
                                           what=f"a quiet data plane after {name}")["drops"]
        except lab.LabError as e:
            failures.append(str(e))
            after = the_lab.drops()
    finally:
        got = stop_captures(the_lab, caps)
    delta = {k: after[k] - d0.get(k, 0) for k in after
             if after[k] != d0.get(k, 0) and k not in BACKGROUND_DROPS}
    if delta != drops:
        failures.append(f"drop counters changed by {delta}, expected exactly {drops}")
    n = sum(len(v) for v in got.values())
    if n != forwarded:
        failures.append(f"{n} frames captured at the backends, expected {forwarded}: "
                        + "; ".join(f"{k}: {f[14:14 + 48].hex()}" for k, fs in got.items()
                                    for f in fs[:10]))
    return got, failures


def locate(the_lab: lab.Lab, got: dict[str, list[bytes]], pkts: list[Pkt]) -> tuple[dict, list]:
    """{packet index: backend key} for the packets found byte for byte (IP
    packet) in the captures, checking each frame's MAC addresses (l2_dsr:
    destination the backend's, source the router port's); failures for
    frames not sent and packets seen twice."""
    failures = []
    index = {p.l3: i for i, p in enumerate(pkts)}
    where: dict[int, str] = {}
    for k, frames in got.items():
        h = the_lab.hosts[k]
        rmac = the_lab.router_mac(k)
        for f in frames:
            l3 = f[14:]
            l3 = l3[:l3_len(l3)]
            i = index.get(l3)
            if i is None:
                failures.append(f"{k}: captured a packet not sent (or changed): {l3[:64].hex()}")
                continue
            if i in where:
                failures.append(f"{pkts[i].label}: captured at {where[i]} and at {k}")
            where[i] = k
            dmac, smac = f[0:6].hex(":"), f[6:12].hex(":")
            if dmac != h.mac.lower() or smac != rmac.lower():
                failures.append(f"{pkts[i].label} at {k}: MACs {smac} -> {dmac}, expected "
                                f"{rmac} -> {h.mac}")
    return where, failures


def fail_report(the_lab: lab.Lab, name: str, failures: list[str]) -> str:
    return f"{name}:\n" + "\n".join(failures[:40]) + the_lab.describe()


# --------------------------------------------------------------------------
# builders


def a_addr(the_lab: lab.Lab, v6: bool) -> str:
    a = the_lab.hosts["a"]
    return a.v6 if v6 else a.v4


def ip_hdr(src: str, dst: str, **kw):
    return IPv6(src=src, dst=dst, **kw) if ":" in dst else IP(src=src, dst=dst, **kw)


def raw_l4(src: str, dst: str, proto: int, l4: bytes, ident: int) -> bytes:
    """An IP packet with protocol `proto` carrying exactly `l4` (lengths right)."""
    if ":" in dst:
        return bytes(IPv6(src=src, dst=dst, nh=proto) / Raw(l4))
    return bytes(IP(src=src, dst=dst, proto=proto, id=ident) / Raw(l4))


# --------------------------------------------------------------------------
# the cases


def test_truncated_l4_header_dropped(lb):
    a4, a6 = a_addr(lb, False), a_addr(lb, True)
    pkts = []
    # (family, protocol, L4 bytes present): TCP needs 20, UDP 8.
    kinds = [(VIP4, 6, 0, 80), (VIP4, 6, 10, 80), (VIP4, 6, 19, 80), (VIP4, 17, 4, 53),
             (VIP4, 17, 7, 53), (VIP6, 6, 10, 80), (VIP6, 6, 19, 80), (VIP6, 17, 4, 53)]
    for n, (vip, proto, size, dport) in enumerate(kinds):
        for j in range(2):
            sport = 41000 + 10 * n + j
            l4 = (struct.pack("!HH", sport, dport) + bytes(range(1, 17)))[:size]
            src = a6 if ":" in vip else a4
            pkts.append(Pkt(f"proto {proto} with {size} L4 bytes to {vip}",
                            raw_l4(src, vip, proto, l4, sport)))
    got, failures = run_case(lb, "truncated", pkts, drops={"lb_l4_truncated": len(pkts)},
                             forwarded=0)
    assert not failures, fail_report(lb, "truncated L4 headers", failures)


def test_unknown_protocol_and_port_dropped(lb):
    a4, a6 = a_addr(lb, False), a_addr(lb, True)
    pkts = []
    for j in range(2):
        pkts += [
            Pkt("protocol 253 to the IPv4 VIP", raw_l4(a4, VIP4, 253, bytes(16), 42000 + j)),
            Pkt("next header 253 to the IPv6 VIP", raw_l4(a6, VIP6, 253, bytes(16), 0)),
            Pkt("TCP SYN to port 8080 (no VIP)",
                bytes(IP(src=a4, dst=VIP4, id=42010 + j) / TCP(sport=42010 + j, dport=8080))),
            Pkt("UDP to port 5353 (no VIP)",
                bytes(IP(src=a4, dst=VIP4, id=42020 + j) / UDP(sport=42020 + j, dport=5353))),
            Pkt("UDP to port 80 (TCP only)",
                bytes(IP(src=a4, dst=VIP4, id=42030 + j) / UDP(sport=42030 + j, dport=80))),
            Pkt("IPv6 TCP SYN to port 8080 (no VIP)",
                bytes(IPv6(src=a6, dst=VIP6) / TCP(sport=42040 + j, dport=8080))),
            Pkt("IPv6 UDP to port 54 (the VIP address has 53 only)",
                bytes(IPv6(src=a6, dst=VIP6) / UDP(sport=42050 + j, dport=54))),
        ]
    got, failures = run_case(lb, "noport", pkts, drops={"lb_no_vip_port": len(pkts)},
                             forwarded=0)
    assert not failures, fail_report(lb, "unknown protocol / port", failures)


def _datagrams(srcs: list[str], dst: str, proto: str, dport: int, size: int, first_id: int):
    """One datagram per source, cut into fragments of at most 1280 bytes of
    IP payload (IPv6: fragment header); the order of the fragments is
    reversed for every other datagram (a balancer without reassembly must
    not care). Returns [(datagram label, [fragment bytes])]."""
    out = []
    for n, src in enumerate(srcs):
        payload = bytes((n + i) & 0xFF for i in range(size))
        l4 = TCP(sport=43000 + n, dport=dport, flags="S") if proto == "tcp" else \
            UDP(sport=43000 + n, dport=dport)
        if ":" in dst:
            pkt = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=first_id + n) / l4 / Raw(payload)
            frags = [bytes(f) for f in fragment6(pkt, 1280)]
        else:
            pkt = IP(src=src, dst=dst, id=first_id + n) / l4 / Raw(payload)
            frags = [bytes(f) for f in fragment(pkt, fragsize=1280)]
        assert len(frags) >= 3, len(frags)
        if n % 2:
            frags.reverse()
        out.append((f"{proto} datagram {n} from {src} ({len(frags)} fragments)", frags))
    return out


def _fragment_case(the_lab: _LbLab, v6: bool):
    fam = "IPv6" if v6 else "IPv4"
    if v6:
        srcs = ["2001:db8:1::2", *[f"2001:db8:1::{0x10 + i:x}" for i in range(5)]]
        vip, two = VIP6, VIP6_TWO
        stats_names = ("dns6", "web6")
    else:
        srcs = ["198.18.1.2", *[f"198.18.1.{10 + i}" for i in range(5)]]
        vip, two = VIP4, VIP4_TWO
        stats_names = ("dns4", "web4")
    dgrams = _datagrams(srcs, vip, "udp", 53, 3000, 0x5100) + \
        _datagrams(srcs[:2], vip, "tcp", 80, 3000, 0x5200)
    pkts: list[Pkt] = []
    owner_of: list[int] = []          # packet index -> datagram index
    for d, (label, frags) in enumerate(dgrams):
        for j, f in enumerate(frags):
            pkts.append(Pkt(f"{label} fragment {j + 1}", f))
            owner_of.append(d)
    # A non-first fragment to an address with udp 53 and udp 54 and no
    # all-ports VIP: no single VIP can take it.
    # (Each of these one-datagram lists is in order: its last fragment is a
    # non-first one.)
    strays = [Pkt(f"non-first fragment to {two}",
                  _datagrams([srcs[0]], two, "udp", 53, 3000, 0x5300 + i)[0][1][-1])
              for i in range(3)]
    stats0 = {n: vip_stats(the_lab, n) for n in stats_names}
    got, failures = run_case(the_lab, f"fragments{fam}", pkts + strays,
                             drops={"lb_fragment": len(strays)}, forwarded=len(pkts))
    where, more = locate(the_lab, got, pkts + strays)
    failures += more
    per_dgram: dict[int, set] = {}
    for i, d in enumerate(owner_of):
        if i not in where:
            failures.append(f"{pkts[i].label}: not captured at any backend")
        else:
            per_dgram.setdefault(d, set()).add(where[i])
    for d, ks in per_dgram.items():
        if len(ks) != 1:
            failures.append(f"{dgrams[d][0]}: fragments reached {sorted(ks)}, expected one backend")
    used = set().union(*per_dgram.values()) if per_dgram else set()
    if len(used) < 2:
        failures.append(f"{len(dgrams)} datagrams from {len(srcs)} sources all reached {used}: "
                        f"the same-backend check proves nothing")
    # Never tracked: no new flow on the VIPs.
    for n in stats_names:
        s1 = vip_stats(the_lab, n)
        for key in ("new_flows", "tracked_flows"):
            if int(s1.get(key, -1)) != int(stats0[n].get(key, -1)):
                failures.append(f"{n} {key} {stats0[n].get(key)} -> {s1.get(key)} after fragments")
    assert not failures, fail_report(the_lab, f"{fam} fragments", failures)


def test_ipv4_fragments_reach_one_backend(lb):
    _fragment_case(lb, v6=False)


def test_ipv6_fragments_reach_one_backend(lb):
    _fragment_case(lb, v6=True)


def test_tcp_without_syn_balanced_and_tracked(lb):
    pkts, asked = [], []
    for v6, count in ((False, 6), (True, 3)):
        src, vip = a_addr(lb, v6), (VIP6 if v6 else VIP4)
        for j in range(count):
            sport = 44000 + 10 * v6 + j
            w = which(lb, "tcp", src, sport, vip, 80)
            asked.append((src, sport, vip, w))
            pkts.append(Pkt(f"ACK without SYN {src}:{sport} -> {vip}:80",
                            bytes(ip_hdr(src, vip) / TCP(sport=sport, dport=80, flags="A",
                                                         seq=1000, ack=2000) / Raw(b"mid-flow"))))
    failures = []
    for src, sport, vip, w in asked:
        if int(w.get("tracked", 0)) != 0 or not backend_addr(w.get("maglev_backend", "")):
            failures.append(f"before: {src}:{sport} -> {vip}: {w} (expected untracked, with a "
                            f"Maglev backend)")
    got, more = run_case(lb, "nosyn", pkts, drops={}, forwarded=len(pkts))
    failures += more
    where, more = locate(lb, got, pkts)
    failures += more
    for i, (src, sport, vip, w0) in enumerate(asked):
        want = host_of(lb, backend_addr(w0["maglev_backend"]))
        w1 = which(lb, "tcp", src, sport, vip, 80)
        if where.get(i) != want:
            failures.append(f"{pkts[i].label}: captured at {where.get(i, 'no backend')}, "
                            f"Maglev said {want}")
        if int(w1.get("tracked", 0)) != 1 or host_of(lb, backend_addr(w1.get("tracked_backend"))) \
                != want or host_of(lb, backend_addr(w1.get("backend"))) != want:
            failures.append(f"{pkts[i].label}: after it, which says {w1} (expected tracked "
                            f"to {want})")
    assert not failures, fail_report(lb, "TCP without SYN", failures)


def _bad_l4_checksum(l3: bytes) -> bytes:
    """The packet with its TCP/UDP checksum off by one (never 0: UDP's 'none')."""
    b = bytearray(l3)
    off = (b[0] & 0xF) * 4 if b[0] >> 4 == 4 else 40
    proto = b[9] if b[0] >> 4 == 4 else b[6]
    at = off + (16 if proto == 6 else 6)
    v = struct.unpack("!H", b[at:at + 2])[0]
    v = 0x1234 if v in (0xFFFF, 0x0000, 0x1233) else v + 1
    b[at:at + 2] = struct.pack("!H", v)
    return bytes(b)


def _l4_checksum_ok(l3: bytes) -> bool:
    """Whether the TCP/UDP checksum verifies (sums to zero with the pseudo-header)."""
    if l3[0] >> 4 == 4:
        ip = IP(l3)
        return in4_chksum(ip.proto, ip, l3[ip.ihl * 4:ip.len]) == 0
    ip6 = IPv6(l3)
    return in6_chksum(ip6.nh, ip6, l3[40:40 + ip6.plen]) == 0


def test_bad_l4_checksum_forwarded_unchanged(lb):
    pkts, asked = [], []
    for v6 in (False, True):
        src = a_addr(lb, v6)
        vip = VIP6 if v6 else VIP4
        for j in range(2):
            sport = 45000 + 10 * v6 + j
            for proto, dport, l4 in (("tcp", 80, TCP(sport=sport, dport=80, flags="S")),
                                     ("udp", 53, UDP(sport=sport, dport=53))):
                good = bytes(ip_hdr(src, vip) / l4 / Raw(b"checksum"))
                assert _l4_checksum_ok(good)
                bad = _bad_l4_checksum(good)
                assert not _l4_checksum_ok(bad)
                pkts.append(Pkt(f"{proto} {src}:{sport} -> {vip}:{dport} with a bad checksum", bad))
                asked.append((proto, src, sport, vip, dport))
    got, failures = run_case(lb, "badsum", pkts, drops={}, forwarded=len(pkts))
    # locate() matches by the exact bytes: a packet found is unchanged, bad checksum included.
    where, more = locate(lb, got, pkts)
    failures += more
    for i, (proto, src, sport, vip, dport) in enumerate(asked):
        w = which(lb, proto, src, sport, vip, dport)
        want = host_of(lb, backend_addr(w["backend"]))
        if where.get(i) != want:
            failures.append(f"{pkts[i].label}: captured at {where.get(i, 'no backend')} "
                            f"(unchanged), which says {w}")
    assert not failures, fail_report(lb, "bad L4 checksums", failures)


def _too_big(icmp_src: str, vip: str, client: str, cport: int) -> bytes:
    """ICMP fragmentation needed (MTU 1400) / packet too big (MTU 1280) to
    the VIP, quoting the VIP's SYN-ACK to the client (RFC 792: header + 8
    bytes; RFC 4443 3.2: as much as fits)."""
    if ":" in vip:
        quoted = bytes(IPv6(src=vip, dst=client, hlim=63) /
                       TCP(sport=80, dport=cport, flags="SA", seq=7, ack=8))
        icmp = struct.pack("!BBHI", 2, 0, 0, 1280) + quoted
        ip6 = IPv6(src=icmp_src, dst=vip, nh=58, plen=len(icmp))
        csum = in6_chksum(58, ip6, icmp)
        icmp = icmp[:2] + struct.pack("!H", csum) + icmp[4:]
        return bytes(ip6) + icmp
    quoted = bytes(IP(src=vip, dst=client, ttl=63, id=7) /
                   TCP(sport=80, dport=cport, flags="SA", seq=7, ack=8))[:28]
    icmp = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    return bytes(IP(src=icmp_src, dst=vip, proto=1, id=cport) / Raw(icmp))


def test_icmp_too_big_reaches_flow_owner(lb):
    # Flows first: SYNs from the client, tracked to their backends.
    flows = []
    syns = []
    for v6, count in ((False, 6), (True, 4)):
        src, vip = a_addr(lb, v6), (VIP6 if v6 else VIP4)
        for j in range(count):
            sport = 46000 + 10 * v6 + j
            flows.append((src, sport, vip))
            syns.append(Pkt(f"SYN {src}:{sport} -> {vip}:80",
                            bytes(ip_hdr(src, vip) / TCP(sport=sport, dport=80, flags="S"))))
    got, failures = run_case(lb, "icmp-syn", syns, drops={}, forwarded=len(syns))
    where, more = locate(lb, got, syns)
    failures += more
    owners = []
    for i, (src, sport, vip) in enumerate(flows):
        w = which(lb, "tcp", src, sport, vip, 80)
        owner = host_of(lb, backend_addr(w.get("tracked_backend", "")))
        owners.append(owner)
        if int(w.get("tracked", 0)) != 1 or where.get(i) != owner:
            failures.append(f"{syns[i].label}: captured at {where.get(i)}, which says {w}")
    assert not failures, fail_report(lb, "ICMP too big: setting up the flows", failures)
    if len(set(owners)) < 2:
        pytest.fail(f"all {len(flows)} flows went to {owners[0]}: the ICMP check would prove "
                    f"nothing" + lb.describe())

    # Then one ICMP error per flow, from a router on the way to the client.
    errs = []
    for src, sport, vip in flows:
        router = "2001:db8:1::20" if ":" in vip else "198.18.1.20"
        errs.append(Pkt(f"too big about {vip}:80 -> {src}:{sport}",
                        _too_big(router, vip, src, sport)))
    icmp0 = int(lb.tele("/sluice/lb/vips").get("icmp_to_backend", -1))
    got, failures = run_case(lb, "icmp-err", errs, drops={}, forwarded=len(errs))
    icmp1 = int(lb.tele("/sluice/lb/vips").get("icmp_to_backend", -1))
    if icmp1 - icmp0 != len(errs):
        failures.append(f"/sluice/lb/vips icmp_to_backend {icmp0} -> {icmp1}, "
                        f"{len(errs)} sent")
    where, more = locate(lb, got, errs)
    failures += more
    for i, owner in enumerate(owners):
        if where.get(i) != owner:
            failures.append(f"{errs[i].label}: captured at {where.get(i, 'no backend')}, "
                            f"the flow's backend is {owner}")
    assert not failures, fail_report(lb, "ICMP too big to the flow's backend", failures)


def test_still_forwarding(lb):
    """Runs last: the process is alive, forwards, answers echo requests to
    the VIPs, and the lb_* counters moved by exactly what the module sent."""
    lb.assert_alive()
    a = lb.hosts["a"]
    for k in BACKENDS:
        h = lb.hosts[k]
        for dst in (h.v4, h.v6):
            r = lab.ping(a, dst, count=3, interval=0.1)
            assert r["loss"] == 0 and r["sent"] == 3, r["out"] + lb.describe()
    for vip in (VIP4, VIP6):
        r = lab.ping(a, vip, count=3, interval=0.1)
        assert r["loss"] == 0 and r["sent"] == 3, f"echo to the VIP {vip}:\n{r['out']}" + \
            lb.describe()
    now = lb.wait_quiescent(what="a quiet data plane at the end")["drops"]
    moved = {r: now[r] - lb.lb_drops0[r] for r in LB_REASONS if now[r] != lb.lb_drops0[r]}
    want = {r: n for r, n in LEDGER.items() if n}
    assert moved == want, f"lb_* drops over the module: {moved}, sent to be dropped: {want}" + \
        lb.describe()
