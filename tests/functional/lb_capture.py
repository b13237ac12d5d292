"""Sending raw frames from a namespace and capturing what reaches the
backends (tcpdump into pcap files, ended by a marker echo reply so that no
frame still in tcpdump's buffers is lost): shared by the load balancer's
encapsulation and malformed-traffic tests."""

from __future__ import annotations

import re
import signal
import struct
from pathlib import Path

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import lab

RAW_SENDER = r'''
import socket, sys
frames = [bytes.fromhex(h) for h in sys.stdin.read().split()]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for f in frames:
    s.send(f)
print(len(frames))
'''


def send_frames(host: lab.Host, frames: list[bytes]):
    """Writes whole Ethernet frames on the host's interface, in order."""
    cp = host.run([lab.PYTHON, "-c", RAW_SENDER, host.ifname],
                  input="\n".join(f.hex() for f in frames), timeout=30)
    assert cp.stdout.strip() == str(len(frames)), cp.stdout + cp.stderr


def read_pcap(path: Path) -> list[bytes]:
    """The complete records of a pcap file (one being written may end in a partial one)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    if len(data) < 24:
        return []
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        if off + 16 + incl > len(data):
            break
        out.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    return out


# A frame that ends a capture: an ICMP echo reply with this id, which the
# receiving kernel ignores (nothing asked for it).
BARRIER_ID = 0x5E1C


def is_barrier(f: bytes) -> bool:
    if len(f) < 14 + 20 + 8 or f[12:14] != b"\x08\x00" or f[14 + 9] != 1:
        return False
    icmp = 14 + (f[14] & 0xF) * 4
    return f[icmp] == 0 and f[icmp + 4:icmp + 6] == struct.pack("!H", BARRIER_ID)


class Capture:
    """tcpdump on a host's interface (incoming frames) into a pcap file."""

    def __init__(self, host: lab.Host, path: Path, bpf: str):
        self.host, self.path = host, path
        # -U with --immediate-mode: each frame is written as it arrives.
        # The filters here match no frame the host sends itself: -Q in
        # drops those after the kernel's filter, where "received by filter"
        # would still count them.
        # Immediate mode uses a ring of one slot per snapshot length: with
        # the default 256 KiB snapshot, 2 MiB hold 8 frames and a burst of
        # 50 lost some ("dropped by kernel"); 2 KiB x 4 MiB hold 2000.
        # The barrier to this host only (the host may send one to another).
        bpf = (f"({bpf}) or (icmp and icmp[0] = 0 and icmp[4:2] = {BARRIER_ID} "
               f"and dst host {host.v4})")
        self.proc = host.ns.popen(["tcpdump", "-n", "-i", host.ifname, "-Q", "in", "-U",
                                   "--immediate-mode", "-s", "2048", "-B", "4096",
                                   "-w", str(path), bpf])
        self.proc.wait_line(r"listening on", timeout=10)

    def raw_frames(self) -> list[bytes]:
        return read_pcap(self.path)

    def frames(self) -> list[bytes]:
        """The frames captured so far, barrier left out."""
        return [f for f in self.raw_frames() if not is_barrier(f)]

    def stop(self) -> list[bytes]:
        """Stops tcpdump; returns the frames (barrier left out), checking
        that the file holds all that the kernel's filter matched."""
        self.proc.stop(sig=signal.SIGINT, timeout=5)
        text = self.proc.output()
        raw = self.raw_frames()
        m = re.search(r"(\d+) packets? received by filter", text)
        assert m and int(m.group(1)) == len(raw), \
            f"tcpdump on {self.host.name}: the file holds {len(raw)} frames, its summary " \
            f"says:\n{text[-1000:]}"
        return [f for f in raw if not is_barrier(f)]


def stop_captures(the_lab: lab.Lab, caps: dict) -> dict[str, list[bytes]]:
    """Ends the captures behind a barrier: an echo reply routed to each
    captured host once the data plane is done with the test's packets. The
    router sends it after everything before it, so once it is in a file,
    every frame before it is too; stopping tcpdump then loses nothing (a
    SIGINT drops what tcpdump has not read yet)."""
    by_sender: dict[str, list[bytes]] = {}
    for c in caps.values():
        sender = the_lab.hosts["b" if c.host is the_lab.hosts["a"] else "a"]
        rmac = the_lab.router_mac(sender.key)
        by_sender.setdefault(sender.key, []).append(bytes(
            Ether(dst=rmac, src=sender.mac, type=0x0800)
            / IP(src=sender.v4, dst=c.host.v4) / ICMP(type=0, id=BARRIER_ID, seq=1)
            / Raw(b"capture barrier")))
    for key, frames in by_sender.items():
        send_frames(the_lab.hosts[key], frames)
    missing = None
    try:
        lab.wait_until(lambda: all(any(is_barrier(f) for f in c.raw_frames())
                                   for c in caps.values()), timeout=10,
                       what="the barrier frame in every capture")
    except lab.LabError as e:
        missing = e
    got = {k: c.stop() for k, c in caps.items()}
    if missing:
        raise AssertionError(f"{missing}; captured: {({k: len(v) for k, v in got.items()})}"
                             + the_lab.describe())
    return got
