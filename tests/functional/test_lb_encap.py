"""Encapsulating VIPs (modes ipip and gue, docs/lb.md) through the real data
plane. This kernel has no ipip/fou modules, so the backends cannot
decapsulate: their namespaces capture what arrives (tcpdump into a pcap)
and the test dissects every frame twice, with scapy and with tshark (an
independent dissector): outer and inner headers, checksums, and the backend
chosen, compared with what /sluice/lb/which says for the same 5-tuple.

Packets are built here with scapy and written as whole Ethernet frames from
the client's namespace (an AF_PACKET socket), so the inner packet a backend
receives can be compared byte for byte with the bytes sent.

MTU (issue 8, "MTU handling"): an encapsulated packet larger than the
egress MTU (1500 here) gets ICMP fragmentation needed (IPv4 with DF) or
packet too big (IPv6) back to the client, carrying MTU = 1500 - overhead
(IPIP 20 / 40, GUE 28 / 48 for an IPv4 / IPv6 outer header); an IPv4
packet without DF is dropped and counted (lb_too_big). The ICMP errors are
counted like the router's own (ipv4_frag_needed / ipv6_too_big)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, in6_chksum
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import checksum

import lab

VIP4 = "198.18.100.1"
VIP6 = "2001:db8:100::1"
VIPX4 = "198.18.100.2"           # IPv4 VIP with IPv6 backends (IPv4 in IPv6)
VIPX6 = "2001:db8:100::2"        # IPv6 VIP with IPv4 backends (IPv6 in IPv4)
ENC4 = "198.18.250.0/24"
ENC6 = "2001:db8:250::/64"
GUE_PORT4 = 9886                 # the default (not written in the config)
GUE_PORT6 = 9887                 # set explicitly on the IPv6 GUE VIPs
PORT = {"ipip": 80, "gue": 81}
BACKENDS = ("b", "c", "d")
MTU = 1500
OUTER_TTL = 64
TOS = 0x28                       # AF11: shows whether TOS / traffic class is copied
FLOWS = 24                       # per VIP: 12 TCP SYNs + 12 UDP flows of 2 datagrams
# Drops the kernel hosts cause on their own: right after their addresses are
# configured they send MLD reports to ff02::16, which the router does not
# serve (local_unsupported), for a second or two, i.e. into the first test.
# Not this module's packets: left out of the exact drop deltas.
BACKGROUND_DROPS = frozenset({"local_unsupported"})
CAPTURE_BPF = ("(ip and (ip proto 4 or ip proto 41 or ip proto 17)) or "
               "(ip6 and (ip6 proto 4 or ip6 proto 41 or ip6 proto 17))")
CLIENT_ICMP_BPF = "(icmp and icmp[0] = 3 and icmp[1] = 4) or (icmp6 and ip6[40] = 2)"


def overhead(mode: str, outer_v6: bool) -> int:
    return (40 if outer_v6 else 20) + (8 if mode == "gue" else 0)


# --------------------------------------------------------------------------
# config


def _vip(name: str, address: str, proto: str, port: int, mode: str, backends: list[str],
         encap: list[str], gue_port: int | None = None) -> str:
    ys = lab.yaml_str
    out = [f"  - name: {name}", f"    address: {ys(address)}", f"    protocol: {proto}",
           f"    port: {port}", f"    mode: {mode}"]
    # A prefix alone: the scalar form; with "list": the list form (both documented).
    prefixes = [p for p in encap if p != "list"]
    out.append(f"    encap_source: {ys(prefixes[0])}" if "list" not in encap else
               "    encap_source: [" + ", ".join(ys(p) for p in prefixes) + "]")
    if gue_port is not None:
        out.append(f"    gue_port: {gue_port}")
    out.append("    backends:")
    out += [f"      - address: {ys(b)}" for b in backends]
    return "\n".join(out)


def base_vips() -> list[str]:
    """ipip and gue, TCP and UDP, on VIP4 (IPv4 backends) and VIP6 (IPv6)."""
    vips = []
    for fam, addr, enc in (("4", VIP4, ENC4), ("6", VIP6, ENC6)):
        backends = [(f"198.18.{2 + i}.2" if fam == "4" else f"2001:db8:{2 + i}::2")
                    for i in range(len(BACKENDS))]
        for mode in ("ipip", "gue"):
            for proto in ("tcp", "udp"):
                gp = GUE_PORT6 if (mode == "gue" and fam == "6") else None
                vips.append(_vip(f"{mode}{fam}_{proto}", addr, proto, PORT[mode], mode,
                                 backends, [enc], gp))
    return vips


# Backends of the other family (docs/config.md: ipip and gue "can cross
# families"): (mode, VIP, the backends' family).
CROSS = [("ipip", VIPX4, "6"), ("gue", VIPX4, "6"), ("ipip", VIPX6, "4"), ("gue", VIPX6, "4")]


def cross_name(mode: str, vip: str) -> str:
    return f"x_{mode}_{'6in4' if ':' in vip else '4in6'}"


def cross_vips() -> list[str]:
    out = []
    for mode, vip, bfam in CROSS:
        backends = [(f"2001:db8:{2 + i}::2" if bfam == "6" else f"198.18.{2 + i}.2")
                    for i in range(len(BACKENDS))]
        # The list form of encap_source, with the one family the backends need.
        out.append(_vip(cross_name(mode, vip), vip, "tcp", PORT[mode], mode, backends,
                        [ENC6 if bfam == "6" else ENC4, "list"]))
    return out


def vips_text(vips: list[str]) -> str:
    return "vips:\n" + "\n".join(vips) + "\n"


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
    the_lab = _LbLab(tag="fenc", hosts=4, binary=dp_binary)
    the_lab.lb_extra = vips_text(base_vips())
    request.addfinalizer(the_lab.close)
    try:
        the_lab.start()
    except lab.LabError as e:
        pytest.fail(f"lab with encapsulating VIPs did not start: {e}{the_lab.describe()}",
                    pytrace=False)
    a = the_lab.hosts["a"]
    # The backends cannot decapsulate: their kernels answer each packet with
    # an ICMP error (protocol / port unreachable) to the outer source, for
    # which the router has no route and would count a drop. Those errors are
    # not what is tested: a blackhole route keeps them from being sent.
    for k in BACKENDS:
        h = the_lab.hosts[k]
        h.run(["ip", "route", "add", "blackhole", ENC4])
        h.run(["ip", "-6", "route", "add", "blackhole", ENC6])
    # The router resolves every backend (as a live network would have).
    for k in BACKENDS:
        h = the_lab.hosts[k]
        for dst in (h.v4, h.v6):
            r = lab.ping(a, dst, count=2, interval=0.1)
            assert r["loss"] == 0, r["out"] + the_lab.describe()
    vips = the_lab.tele("/sluice/lb/vips")
    assert isinstance(vips, dict) and vips.get("vips") == 8, \
        f"/sluice/lb/vips does not list the 8 VIPs configured: {vips}" + the_lab.describe()
    return the_lab


# --------------------------------------------------------------------------
# sending and capturing

from lb_capture import BARRIER_ID, Capture, send_frames, stop_captures  # noqa: E402


def start_captures(the_lab: lab.Lab, tag: str, keys=BACKENDS, bpf=CAPTURE_BPF) -> dict:
    return {k: Capture(the_lab.hosts[k], the_lab.workdir / f"{tag}-{k}.pcap", bpf)
            for k in keys}


def wait_captured(the_lab: lab.Lab, caps: dict, n: int, what: str):
    lab.wait_until(lambda: sum(len(c.frames()) for c in caps.values()) >= n, timeout=10,
                   what=f"{n} frames captured ({what})",
                   describe=lambda: {k: len(c.frames()) for k, c in caps.items()})


# --------------------------------------------------------------------------
# packets


@dataclass
class Sent:
    flow: int                 # index of the flow
    proto: str                # tcp | udp
    src: str
    sport: int
    dst: str
    dport: int
    l3: bytes                 # the IP packet as sent (the inner packet expected)
    frame: bytes = b""


def build(the_lab: lab.Lab, proto: str, dst: str, sport: int, dport: int, *, payload: bytes = b"",
          df: bool = True, flow: int = 0) -> Sent:
    a = the_lab.hosts["a"]
    v6 = ":" in dst
    src = a.v6 if v6 else a.v4
    ip = IPv6(src=src, dst=dst, tc=TOS, hlim=64) if v6 else \
        IP(src=src, dst=dst, tos=TOS, ttl=64, id=sport, flags="DF" if df else 0)
    l4 = TCP(sport=sport, dport=dport, flags="S", seq=sport * 1000, window=64240) \
        if proto == "tcp" else UDP(sport=sport, dport=dport)
    l3 = bytes(ip / l4 / Raw(payload)) if payload else bytes(ip / l4)
    return Sent(flow, proto, src, sport, dst, dport, l3)


def frame_of(the_lab: lab.Lab, rmac: str, s: Sent) -> bytes:
    eth = Ether(dst=rmac, src=the_lab.hosts["a"].mac, type=0x86DD if ":" in s.dst else 0x0800)
    s.frame = bytes(eth) + s.l3
    return s.frame


def which(the_lab: lab.Lab, s: Sent) -> dict:
    w = the_lab.tele("/sluice/lb/which", f"{s.proto},{s.src},{s.sport},{s.dst},{s.dport}")
    assert isinstance(w, dict) and "backend" in w, \
        f"/sluice/lb/which for {s.proto} {s.src}:{s.sport} -> {s.dst}:{s.dport}: {w}"
    return w


def backend_addr(text: str) -> str:
    """The address of a which reply's backend ("addr port")."""
    return str(text).split()[0] if str(text).strip() else ""


def host_of(the_lab: lab.Lab, addr: str) -> str:
    for k, h in the_lab.hosts.items():
        if ipaddress.ip_address(addr) in (ipaddress.ip_address(h.v4), ipaddress.ip_address(h.v6)):
            return k
    return "?"


# --------------------------------------------------------------------------
# dissection with scapy


@dataclass
class Outer:
    v6: bool
    src: str
    dst: str
    proto: int              # IPv4 protocol / IPv6 next header
    ttl: int
    tos: int                # IPv4 TOS / IPv6 traffic class
    df: bool | None
    ip_id: int | None
    length_ok: bool         # IPv4 total length / IPv6 payload length = what follows
    hdr_csum_ok: bool | None
    udp: dict | None        # GUE: sport, dport, len, csum, csum_ok
    inner: bytes


def dissect(frame: bytes) -> Outer:
    ethertype = struct.unpack("!H", frame[12:14])[0]
    l3 = frame[14:]
    if ethertype == 0x0800:
        o = IP(l3)
        ihl = o.ihl * 4
        body = l3[ihl:o.len]
        # A minimum-size frame may carry Ethernet padding after the packet.
        length_ok = o.len == len(l3) or (o.len < len(l3) and len(frame) == 60)
        out = Outer(False, o.src, o.dst, o.proto, o.ttl, o.tos, bool(o.flags.DF), o.id,
                    length_ok, checksum(l3[:ihl]) == 0, None, body)
    elif ethertype == 0x86DD:
        o = IPv6(l3)
        body = l3[40:40 + o.plen]
        out = Outer(True, o.src, o.dst, o.nh, o.hlim, o.tc, None, None,
                    40 + o.plen == len(l3) or (40 + o.plen < len(l3) and len(frame) == 60),
                    None, None, body)
    else:
        raise AssertionError(f"ethertype {ethertype:#06x}: {frame[:64].hex()}")
    if out.proto == 17:
        sport, dport, ulen, csum = struct.unpack("!HHHH", body[:8])
        udp = {"sport": sport, "dport": dport, "len": ulen, "csum": csum, "csum_ok": None}
        if out.v6:
            zeroed = body[:6] + b"\0\0" + body[8:ulen]
            want = in6_chksum(17, IPv6(l3), zeroed) or 0xFFFF
            udp["csum_ok"] = csum == want
            udp["csum_want"] = want
        out.udp = udp
        out.inner = body[8:ulen]
    return out


def inner_version(b: bytes) -> int:
    return b[0] >> 4 if b else 0


# --------------------------------------------------------------------------
# dissection with tshark

TSHARK_FIELDS = ["frame.protocols", "ip.src", "ip.dst", "ip.ttl", "ip.proto",
                 "ip.checksum.status", "ipv6.src", "ipv6.dst", "ipv6.hlim", "ipv6.nxt",
                 "udp.srcport", "udp.dstport", "udp.checksum.status", "tcp.srcport",
                 "tcp.checksum.status"]


def tshark(path: Path) -> list[dict]:
    """One dict per frame: field -> list of values (outer first)."""
    cmd = ["tshark", "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE",
           "-o", "udp.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
           # GUE variant 1: the UDP payload is an IP packet (tshark's "ip"
           # dissector hands IPv6 on by the version nibble).
           "-d", f"udp.port=={GUE_PORT4},ip", "-d", f"udp.port=={GUE_PORT6},ip",
           "-Y", f"!(icmp.type == 0 && icmp.ident == {BARRIER_ID})",
           "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-E", "separator=\t"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    cp = lab.run(cmd, timeout=60)
    rows = []
    for line in cp.stdout.splitlines():
        cols = line.split("\t")
        cols += [""] * (len(TSHARK_FIELDS) - len(cols))
        rows.append({f: (c.split(",") if c else []) for f, c in zip(TSHARK_FIELDS, cols)})
    return rows


# --------------------------------------------------------------------------
# the checks


def check_frame(o: Outer, s: Sent, mode: str, *, expect_dst: str, enc: str,
                gue_port: int) -> list[str]:
    """Everything docs/lb.md and dataplane/lb/rewrite.hpp promise about one
    encapsulated packet; returns what is wrong."""
    bad = []
    iv = inner_version(s.l3)
    if ipaddress.ip_address(o.src) not in ipaddress.ip_network(enc):
        bad.append(f"outer source {o.src} not in encap_source {enc}")
    if ipaddress.ip_address(o.dst) != ipaddress.ip_address(expect_dst):
        bad.append(f"outer destination {o.dst}, /sluice/lb/which says {expect_dst}")
    want_proto = 17 if mode == "gue" else (4 if iv == 4 else 41)
    if o.proto != want_proto:
        bad.append(f"outer protocol {o.proto}, expected {want_proto}")
    if o.ttl != OUTER_TTL:
        bad.append(f"outer TTL/hop limit {o.ttl}, expected {OUTER_TTL}")
    if not o.length_ok:
        bad.append("outer length field does not match the packet")
    if not o.v6 and not o.hdr_csum_ok:
        bad.append("outer IPv4 header checksum invalid")
    if mode == "ipip":
        # rewrite.hpp: TOS / traffic class copied from the inner; DF copied
        # from an IPv4 inner (RFC 2003 3.1); ID 0.
        inner_tos = IP(s.l3).tos if iv == 4 else IPv6(s.l3).tc
        if o.tos != inner_tos:
            bad.append(f"outer TOS/traffic class {o.tos:#x}, inner {inner_tos:#x}")
        if not o.v6:
            inner_df = bool(IP(s.l3).flags.DF) if iv == 4 else True
            if o.df != inner_df:
                bad.append(f"outer DF {o.df}, inner DF {inner_df}")
            if o.ip_id != 0:
                bad.append(f"outer IPv4 ID {o.ip_id}, expected 0")
    if mode == "gue":
        u = o.udp
        if u is None:
            bad.append("no outer UDP header")
        else:
            if u["dport"] != gue_port:
                bad.append(f"GUE destination port {u['dport']}, expected {gue_port}")
            if not 32768 <= u["sport"] <= 65535:
                bad.append(f"GUE source port {u['sport']} outside 32768..65535")
            if u["len"] != 8 + len(s.l3):
                bad.append(f"UDP length {u['len']}, expected {8 + len(s.l3)}")
            if not o.v6 and u["csum"] != 0:
                bad.append(f"UDP checksum {u['csum']:#06x} over IPv4, expected 0")
            if o.v6 and not u["csum_ok"]:
                bad.append(f"UDP checksum {u['csum']:#06x} over IPv6, expected "
                           f"{u.get('csum_want', 0):#06x}")
    if o.inner != s.l3:
        bad.append(f"inner packet differs from the one sent:\n  sent {s.l3.hex()}\n"
                   f"  got  {o.inner.hex()}")
    return bad


def check_tshark(row: dict, o: Outer, s: Sent, mode: str, gue_port: int) -> list[str]:
    """The same frame as tshark sees it: addresses, TTL, ports and the
    checksum verdicts (1 good, 3 not present; 0 bad)."""
    bad = []
    iv = inner_version(s.l3)
    src4, dst4, src6, dst6 = row["ip.src"], row["ip.dst"], row["ipv6.src"], row["ipv6.dst"]
    inner_src, inner_dst = s.src, s.dst
    if o.v6:
        outer_ok = src6[:1] == [o.src] and dst6[:1] == [o.dst] and row["ipv6.hlim"][:1] == ["64"]
        rest_src = (src6[1:] if iv == 6 else src4)
        rest_dst = (dst6[1:] if iv == 6 else dst4)
    else:
        outer_ok = src4[:1] == [o.src] and dst4[:1] == [o.dst] and row["ip.ttl"][:1] == ["64"]
        rest_src = (src4[1:] if iv == 4 else src6)
        rest_dst = (dst4[1:] if iv == 4 else dst6)
    if not outer_ok:
        bad.append(f"tshark's outer header differs from scapy's ({o.src} -> {o.dst}, "
                   f"ttl 64): {row}")
    if [ipaddress.ip_address(x) for x in rest_src] != [ipaddress.ip_address(inner_src)] or \
            [ipaddress.ip_address(x) for x in rest_dst] != [ipaddress.ip_address(inner_dst)]:
        bad.append(f"tshark's inner addresses {rest_src} -> {rest_dst}, sent "
                   f"{inner_src} -> {inner_dst}")
    if any(v != "1" for v in row["ip.checksum.status"]):
        bad.append(f"tshark: IPv4 header checksum status {row['ip.checksum.status']} (1 = good)")
    if s.proto == "tcp":
        if row["tcp.srcport"] != [str(s.sport)] or row["tcp.checksum.status"] != ["1"]:
            bad.append(f"tshark: inner TCP sport {row['tcp.srcport']} status "
                       f"{row['tcp.checksum.status']}, expected [{s.sport}] ['1']")
    udp_status = row["udp.checksum.status"]
    udp_sport = row["udp.srcport"]
    if mode == "gue":
        want = ["3" if not o.v6 else "1"] + (["1"] if s.proto == "udp" else [])
        if udp_status != want:
            bad.append(f"tshark: UDP checksum status {udp_status}, expected {want} "
                       f"(3 = none, as over IPv4)")
        if row["udp.dstport"][:1] != [str(gue_port)] or udp_sport[:1] != [str(o.udp["sport"])]:
            bad.append(f"tshark: outer UDP {udp_sport[:1]} -> {row['udp.dstport'][:1]}")
        if s.proto == "udp" and udp_sport[1:] != [str(s.sport)]:
            bad.append(f"tshark: inner UDP source port {udp_sport[1:]}, sent {s.sport}")
    elif s.proto == "udp" and (udp_status != ["1"] or udp_sport != [str(s.sport)]):
        bad.append(f"tshark: inner UDP sport {udp_sport} status {udp_status}")
    return bad


def analyse(the_lab: lab.Lab, sent: list[Sent], got: dict[str, list[bytes]], pcaps: dict,
            mode: str, enc: str, gue_port: int, expected: dict[int, str]) -> tuple[list, dict]:
    """Matches every captured frame to the packet sent (by the inner bytes),
    checks it with scapy and tshark; returns (failures, {sent index: Outer})."""
    failures: list[str] = []
    by_inner = {s.l3: i for i, s in enumerate(sent)}
    seen: dict[int, tuple[str, Outer]] = {}
    for k, frames in got.items():
        rows = tshark(pcaps[k])
        if len(rows) != len(frames):
            failures.append(f"tshark read {len(rows)} frames from {pcaps[k]}, scapy {len(frames)}")
            rows = [None] * len(frames)
        for n, (frame, row) in enumerate(zip(frames, rows)):
            o = dissect(frame)
            i = by_inner.get(o.inner)
            if i is None:
                failures.append(f"{k} frame {n + 1}: not one of the packets sent, byte for byte: "
                                f"outer {o.src} -> {o.dst} proto {o.proto}, inner {o.inner.hex()}")
                continue
            s = sent[i]
            tag = f"{s.proto} {s.src}:{s.sport} -> {s.dst}:{s.dport} (captured at {k})"
            if i in seen:
                failures.append(f"{tag}: captured twice (also at {seen[i][0]})")
                continue
            seen[i] = (k, o)
            want = expected[i]
            if host_of(the_lab, want) != k:
                failures.append(f"{tag}: /sluice/lb/which says backend {want} "
                                f"({host_of(the_lab, want)})")
            failures += [f"{tag}: {b}" for b in check_frame(o, s, mode, expect_dst=want, enc=enc,
                                                            gue_port=gue_port)]
            if row is not None:
                failures += [f"{tag}: {b}" for b in check_tshark(row, o, s, mode, gue_port)]
    for i, s in enumerate(sent):
        if i not in seen:
            failures.append(f"{s.proto} {s.src}:{s.sport} -> {s.dst}:{s.dport}: never captured "
                            f"(which: {expected.get(i)})")
    return failures, {i: o for i, (k, o) in seen.items()}


def run_flows(the_lab: _LbLab, vip: str, mode: str, *, enc: str, gue_port: int, tag: str,
              base: int, protos=("tcp", "udp"), flows: int = FLOWS):
    """Sends `flows` new flows to the VIP (TCP: one SYN; UDP: two datagrams),
    captures them on the backends and checks every frame. Returns
    (sent, {sent index: Outer}, {flow: backend address})."""
    the_lab.assert_alive()
    rmac = the_lab.router_mac("a")
    port = PORT[mode]
    sent: list[Sent] = []
    for f in range(flows):
        proto = protos[f % len(protos)]
        sport = base + f
        if proto == "tcp":
            sent.append(build(the_lab, "tcp", vip, sport, port, flow=f))
        else:
            for p in range(2):
                # The second datagram without DF: DF is copied per packet.
                sent.append(build(the_lab, "udp", vip, sport, port, df=(p == 0),
                                  payload=f"flow {f} datagram {p}".encode(), flow=f))
    # Maglev's answer for each new flow before it is seen ...
    predicted = {s.flow: which(the_lab, s) for s in sent}
    for s in sent:
        frame_of(the_lab, rmac, s)
    caps = start_captures(the_lab, tag)
    quiet = the_lab.wait_quiescent(what=f"a quiet data plane before {tag}")
    rx0 = quiet["ports"]["a"]["rx_packets"]
    send_frames(the_lab.hosts["a"], [s.frame for s in sent])
    try:
        wait_captured(the_lab, caps, len(sent), tag)
        the_lab.wait_quiescent(rx_at_least={"a": rx0 + len(sent)},
                               what=f"a quiet data plane after {tag}")
    finally:
        got = stop_captures(the_lab, caps)
    # ... and the tracked backend after.
    after = {s.flow: which(the_lab, s) for s in sent}
    failures = []
    expected = {}
    for i, s in enumerate(sent):
        p, w = predicted[s.flow], after[s.flow]
        expected[i] = backend_addr(w["backend"])
        if backend_addr(p["backend"]) != expected[i] or \
                backend_addr(w.get("tracked_backend", "")) != expected[i] or \
                int(w.get("tracked", 0)) != 1:
            failures.append(f"flow {s.proto} {s.sport}: which before {p}, after {w} (expected "
                            f"the same backend, tracked after the first packet)")
    pcaps = {k: c.path for k, c in caps.items()}
    more, outers = analyse(the_lab, sent, got, pcaps, mode, enc, gue_port, expected)
    failures += more
    return sent, outers, expected, failures


CASES = [("ipip", "4"), ("gue", "4"), ("ipip", "6"), ("gue", "6")]


@pytest.mark.parametrize("mode,fam", CASES, ids=[f"{m}{f}" for m, f in CASES])
def test_encap_output(lb, mode, fam):
    vip, enc = (VIP4, ENC4) if fam == "4" else (VIP6, ENC6)
    gue_port = GUE_PORT4 if fam == "4" else GUE_PORT6
    d0 = lb.drops()
    sent, outers, expected, failures = run_flows(lb, vip, mode, enc=enc, gue_port=gue_port,
                                                 tag=f"{mode}{fam}",
                                                 base=20000 + 100 * CASES.index((mode, fam)))
    # The flow hash chooses the backend, the outer source's host bits and
    # GUE's source port: one flow keeps them, different flows spread.
    per_flow: dict[int, set] = {}
    for i, o in outers.items():
        per_flow.setdefault(sent[i].flow, set()).add(
            (o.dst, o.src, o.udp["sport"] if o.udp else None))
    for f, v in per_flow.items():
        if len(v) != 1:
            failures.append(f"flow {f}: its packets left with different outer headers {v}")
    firsts = [next(iter(v)) for v in per_flow.values()]
    backends = {host_of(lb, d) for d, _, _ in firsts}
    if backends != set(BACKENDS):
        failures.append(f"{len(firsts)} flows reached only {sorted(backends)}")
    srcs = {s for _, s, _ in firsts}
    if len(srcs) < len(firsts) // 2:
        failures.append(f"{len(firsts)} flows used only {len(srcs)} outer sources: {sorted(srcs)}")
    if mode == "gue":
        sports = {p for _, _, p in firsts}
        if len(sports) < len(firsts) // 2:
            failures.append(f"{len(firsts)} flows used only {len(sports)} GUE source ports")
    d1 = lb.drops()
    moved = {k: d1[k] - d0.get(k, 0) for k in d1
             if d1[k] != d0.get(k, 0) and k not in BACKGROUND_DROPS}
    if moved:
        failures.append(f"drop counters moved: {moved}")
    assert not failures, f"{mode} over IPv{fam}:\n" + "\n".join(failures[:40]) + lb.describe()
    lb.assert_alive()


# --------------------------------------------------------------------------
# MTU


def icmp_quotes(frame: bytes, s: Sent) -> bool:
    """Whether an ICMPv4/ICMPv6 error quotes the start of `s` (its IP header
    and the first 8 bytes after it)."""
    l3 = frame[14:]
    if l3[0] >> 4 == 4:
        quote, need = l3[(l3[0] & 0xF) * 4 + 8:], 28
    else:
        quote, need = l3[48:], 48
    return quote[:need] == s.l3[:need]


def check_icmp(frame: bytes, s: Sent, want_mtu: int, client: lab.Host) -> list[str]:
    """ICMP fragmentation needed / packet too big about `s`, sent to the client."""
    bad = []
    ethertype = struct.unpack("!H", frame[12:14])[0]
    l3 = frame[14:]
    if ":" not in s.dst:
        if ethertype != 0x0800:
            return [f"ICMPv4 expected, ethertype {ethertype:#06x}"]
        ip = IP(l3)
        ihl = ip.ihl * 4
        icmp = l3[ihl:ip.len]
        if ip.dst != client.v4:
            bad.append(f"ICMP sent to {ip.dst}, not the client {client.v4}")
        if checksum(l3[:ihl]) != 0:
            bad.append("ICMP's IPv4 header checksum invalid")
        typ, code = icmp[0], icmp[1]
        mtu = struct.unpack("!H", icmp[6:8])[0]
        if (typ, code) != (3, 4):
            bad.append(f"ICMP type {typ} code {code}, expected 3/4")
        if checksum(icmp) != 0:
            bad.append("ICMP checksum invalid")
        quote = icmp[8:]
        need = 28
        where = f"from {ip.src}"
    else:
        if ethertype != 0x86DD:
            return [f"ICMPv6 expected, ethertype {ethertype:#06x}"]
        ip6 = IPv6(l3)
        icmp = l3[40:40 + ip6.plen]
        if ipaddress.ip_address(ip6.dst) != ipaddress.ip_address(client.v6):
            bad.append(f"ICMPv6 sent to {ip6.dst}, not the client {client.v6}")
        typ, code = icmp[0], icmp[1]
        mtu = struct.unpack("!I", icmp[4:8])[0]
        if (typ, code) != (2, 0):
            bad.append(f"ICMPv6 type {typ} code {code}, expected packet too big (2/0)")
        csum = struct.unpack("!H", icmp[2:4])[0]
        want = in6_chksum(58, ip6, icmp[:2] + b"\0\0" + icmp[4:]) or 0xFFFF
        if csum != want:
            bad.append(f"ICMPv6 checksum {csum:#06x}, expected {want:#06x}")
        quote = icmp[8:]
        need = 48
        where = f"from {ip6.src}"
    if mtu != want_mtu:
        bad.append(f"MTU {mtu} in the ICMP ({where}), expected {want_mtu}")
    if quote[:need] != s.l3[:need]:
        bad.append(f"the ICMP does not quote the packet sent:\n  sent  {s.l3[:need].hex()}\n"
                   f"  quote {quote[:need].hex()}")
    return bad


def mtu_case(the_lab: _LbLab, vip: str, mode: str, outer_v6: bool, *, proto: str, enc: str,
             gue_port: int, tag: str, base: int):
    """At the MTU: the largest packet that fits is encapsulated; one byte
    more gets ICMP with the reduced MTU (DF / IPv6) or is dropped and
    counted (IPv4 without DF)."""
    a = the_lab.hosts["a"]
    rmac = the_lab.router_mac("a")
    v6 = ":" in vip
    port = PORT[mode]
    room = MTU - overhead(mode, outer_v6)
    hdr = (40 if v6 else 20) + (20 if proto == "tcp" else 8)

    def pkt(sport, size, df=True):
        return build(the_lab, proto, vip, sport, port, df=df, payload=bytes(size - hdr))

    fits = pkt(base, room)
    too_big = [pkt(base + 1, room + 1), pkt(base + 2, MTU)]
    no_df = [pkt(base + 3 + i, room + 1, df=False) for i in range(3)] if not v6 else []
    for s in [fits, *too_big, *no_df]:
        assert len(s.l3) in (room, room + 1, MTU)
        frame_of(the_lab, rmac, s)

    failures = []
    base_c = the_lab.wait_quiescent(what=f"a quiet data plane before {tag}")
    d0, rx0 = base_c["drops"], base_c["ports"]["a"]["rx_packets"]
    # docs/lb.md: the packets answered with ICMP count like the router's own.
    icmp_reason = "ipv6_too_big" if v6 else "ipv4_frag_needed"
    for reason in ("lb_too_big", icmp_reason):
        assert reason in d0, f"/sluice/drops has no {reason}: {sorted(d0)}"
    caps = start_captures(the_lab, tag)
    ccap = Capture(a, the_lab.workdir / f"{tag}-client.pcap", CLIENT_ICMP_BPF)
    sent = [fits, *too_big, *no_df]
    send_frames(a, [s.frame for s in sent])
    try:
        wait_captured(the_lab, caps, 1, f"{tag}: the packet of {room} bytes")
        lab.wait_until(lambda: len(ccap.frames()) >= len(too_big), timeout=10,
                       what=f"{len(too_big)} ICMP errors at the client ({tag})",
                       describe=lambda: [f.hex()[:120] for f in ccap.frames()])
        if no_df:
            lab.wait_counter(the_lab, "/sluice/drops", "lb_too_big",
                             lambda v: v - d0["lb_too_big"] >= len(no_df),
                             what=f"lb_too_big to rise by {len(no_df)} ({tag})")
        lab.wait_counter(the_lab, "/sluice/drops", icmp_reason,
                         lambda v: v - d0[icmp_reason] >= len(too_big),
                         what=f"{icmp_reason} to rise by {len(too_big)} ({tag})")
        after = the_lab.wait_quiescent(rx_at_least={"a": rx0 + len(sent)},
                                       what=f"a quiet data plane after {tag}")["drops"]
    except lab.LabError as e:
        failures.append(str(e))
        after = the_lab.drops()
    finally:
        got = stop_captures(the_lab, {**caps, "client": ccap})
        icmps = got.pop("client")
    delta = {k: after[k] - d0.get(k, 0) for k in after
             if after[k] != d0.get(k, 0) and k not in BACKGROUND_DROPS}
    want_delta = {icmp_reason: len(too_big)}
    if no_df:
        want_delta["lb_too_big"] = len(no_df)
    if delta != want_delta:
        failures.append(f"drop counters changed by {delta}, expected {want_delta}")

    # Exactly the fitting packet reached a backend, encapsulated to 1500 bytes.
    frames = [(k, f) for k, fs in got.items() for f in fs]
    if len(frames) != 1:
        outs = [(k, dissect(f)) for k, f in frames]
        failures.append(f"{len(frames)} frames at the backends, expected 1 (the packet of "
                        f"{room} bytes): " + "; ".join(f"{k}: inner {len(o.inner)} bytes"
                                                       for k, o in outs))
    else:
        k, f = frames[0]
        o = dissect(f)
        w = which(the_lab, fits)
        failures += check_frame(o, fits, mode, expect_dst=backend_addr(w["backend"]), enc=enc,
                                gue_port=gue_port)
        if len(f) - 14 != MTU:
            failures.append(f"encapsulated packet is {len(f) - 14} bytes, expected {MTU}")
        if host_of(the_lab, backend_addr(w["backend"])) != k:
            failures.append(f"captured at {k}, which says {w['backend']}")

    # One ICMP per packet that did not fit and had DF (or was IPv6), told
    # apart by the packet they quote (they may arrive in any order).
    if len(icmps) != len(too_big):
        failures.append(f"{len(icmps)} ICMP errors at the client, expected {len(too_big)}: "
                        + "; ".join(f.hex()[:160] for f in icmps))
    answered = set()
    for f in icmps:
        s = next((s for s in too_big if icmp_quotes(f, s)), None)
        if s is None:
            failures.append(f"an ICMP error that quotes none of the packets sent: {f.hex()[:200]}")
            continue
        if id(s) in answered:
            failures.append(f"a second ICMP error about the {len(s.l3)}-byte packet")
        answered.add(id(s))
        failures += [f"ICMP for the {len(s.l3)}-byte packet: {b}"
                     for b in check_icmp(f, s, room, a)]
    assert not failures, f"{tag} (room {room}):\n" + "\n".join(failures) + the_lab.describe()


@pytest.mark.parametrize("mode,fam", CASES, ids=[f"{m}{f}" for m, f in CASES])
def test_encap_mtu(lb, mode, fam):
    vip, enc = (VIP4, ENC4) if fam == "4" else (VIP6, ENC6)
    mtu_case(lb, vip, mode, fam == "6", proto="udp", enc=enc,
             gue_port=GUE_PORT4 if fam == "4" else GUE_PORT6, tag=f"mtu-{mode}{fam}",
             base=30000 + 10 * CASES.index((mode, fam)))
    lb.assert_alive()


# --------------------------------------------------------------------------
# backends of the other family: IPv4 in IPv6, IPv6 in IPv4


def ensure_cross_vips(the_lab: _LbLab):
    """Adds the cross-family VIPs by reload (the VIPs above stay), once."""
    want = vips_text(base_vips() + cross_vips())
    if the_lab.lb_extra != want:
        the_lab.lb_extra = want
        the_lab.write_config()
        the_lab.reload(expect="applied")
    names = [cross_name(m, v) for m, v, _ in CROSS]
    lab.wait_value(lambda: the_lab.tele("/sluice/lb/vips"),
                   lambda v: isinstance(v, dict) and all(n in v for n in names)
                   and v.get("vips") == 8 + len(CROSS), timeout=10,
                   what=f"{names} added to the 8 VIPs in /sluice/lb/vips")


def test_reload_adds_cross_family_vips(lb):
    ensure_cross_vips(lb)
    lb.assert_alive()


@pytest.mark.parametrize("mode,vip,bfam", CROSS, ids=[cross_name(m, v) for m, v, _ in CROSS])
def test_cross_family(lb, mode, vip, bfam):
    ensure_cross_vips(lb)
    outer_v6 = bfam == "6"
    enc = ENC6 if outer_v6 else ENC4
    n = CROSS.index((mode, vip, bfam))
    tag = cross_name(mode, vip)
    sent, outers, expected, failures = run_flows(lb, vip, mode, enc=enc, gue_port=GUE_PORT4,
                                                 tag=tag, base=21000 + 100 * n,
                                                 protos=("tcp",), flows=FLOWS)
    for i, o in outers.items():
        if o.v6 != outer_v6:
            failures.append(f"flow {sent[i].sport}: outer IPv{6 if o.v6 else 4}, expected "
                            f"IPv{bfam} (the backend's family)")
    reached = {host_of(lb, e) for e in expected.values()}
    if reached != set(BACKENDS):
        failures.append(f"{FLOWS} flows reached only {sorted(reached)}")
    assert not failures, f"{tag}:\n" + "\n".join(failures[:40]) + lb.describe()
    mtu_case(lb, vip, mode, outer_v6, proto="tcp", enc=enc, gue_port=GUE_PORT4,
             tag=f"mtu-{tag}", base=30100 + 10 * n)
    lb.assert_alive()


def test_router_still_forwards(lb):
    lb.assert_alive()
    a = lb.hosts["a"]
    for k in BACKENDS:
        h = lb.hosts[k]
        for dst in (h.v4, h.v6):
            r = lab.ping(a, dst, count=3, interval=0.1)
            assert r["loss"] == 0 and r["sent"] == 3, r["out"] + lb.describe()
