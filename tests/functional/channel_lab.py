"""The data plane's control channel and packet capture in the functional lab
(lab.py is the harness): a minimal client of the channel's framing
(docs/control-protocol.md), clients run under another uid/gid with
setpriv, and a Lab on hugepages, which DPDK's secondary processes
(dpdk-dumpcap) need to attach to the data plane.

Everything created here is removed by the tests' finalizers: the lab (its
namespaces and files), the hugepage files of its file prefix, and any group
added for a test."""

from __future__ import annotations

import grp
import json
import os
import socket
import struct
import subprocess
import tempfile
from pathlib import Path

from lab import REPO, Lab, LabError, SocketClient, run

HUGEPAGES_SH = REPO / "tests" / "lab" / "hugepages.sh"
HUGEPAGE_DIR = Path("/dev/hugepages")
NOBODY = 65534


# --------------------------------------------------------------------------
# the channel's framing


def frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def request(type_: str, args: dict | None = None, *, id_: int = 1, v: int = 1) -> bytes:
    return json.dumps({"v": v, "id": id_, "type": type_, "args": args or {}}).encode()


class Channel(SocketClient):
    """A blocking client of one connection: send frames, read replies, and
    tell whether the server closed the connection."""

    def __init__(self, path: str, *, timeout: float = 5):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.next_id = 1

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def _read(self, n: int) -> bytes | None:
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            buf += chunk
        return buf

    def recv(self) -> dict | None:
        """The next reply, or None when the server closed the connection."""
        hdr = self._read(4)
        if hdr is None:
            return None
        (n,) = struct.unpack(">I", hdr)
        body = self._read(n)
        if body is None:
            raise LabError(f"reply cut short: {n} bytes announced")
        return json.loads(body)

    def call(self, type_: str, args: dict | None = None) -> dict:
        id_ = self.next_id
        self.next_id += 1
        self.send_raw(frame(request(type_, args, id_=id_)))
        r = self.recv()
        if r is None:
            raise LabError(f"{type_}: connection closed without a reply")
        if r.get("id") != id_:
            raise LabError(f"{type_}: reply id {r.get('id')} for request {id_}: {r}")
        return r

    def closed(self) -> bool:
        """True when the server closes the connection (EOF) within the timeout."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def result(reply: dict) -> dict:
    if not reply.get("ok"):
        raise AssertionError(f"request failed: {reply}")
    return reply["result"]


# --------------------------------------------------------------------------
# clients under another identity


# Connects to argv[1], says hello, prints what happened as one JSON line:
# {"connect_errno": N} or {"reply": {...} | null, "closed": bool}.
_CLIENT = r'''
import json, socket, struct, sys, errno, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print(json.dumps({"connect_errno": e.errno, "error": os.strerror(e.errno)}))
    sys.exit(0)
body = json.dumps({"v": 1, "id": 1, "type": "hello", "args": {"client": "setpriv"}}).encode()
try:
    s.sendall(struct.pack(">I", len(body)) + body)
except (BrokenPipeError, ConnectionResetError):
    pass  # refused: the server wrote its error and closed before reading
def read(n):
    b = b""
    while len(b) < n:
        try:
            c = s.recv(n - len(b))
        except ConnectionResetError:
            return None
        if not c:
            return None
        b += c
    return b
h = read(4)
reply = None
if h:
    reply = json.loads(read(struct.unpack(">I", h)[0]))
closed = False
try:
    closed = s.recv(1) == b""
except (socket.timeout, ConnectionResetError):
    closed = True
print(json.dumps({"reply": reply, "closed": closed, "uid": os.getuid(), "gid": os.getgid(),
                  "groups": os.getgroups()}))
'''


def client_as(path: str, *, uid: int, gid: int, groups: list[int] | None = None,
              timeout: float = 20) -> dict:
    """Runs a hello client as uid/gid (setpriv), with exactly `groups` as its
    supplementary groups (none when empty); returns what it printed."""
    cmd = ["setpriv", "--reuid", str(uid), "--regid", str(gid)]
    if groups:
        cmd += ["--groups", ",".join(str(g) for g in groups)]
    else:
        cmd += ["--clear-groups"]
    cmd += ["/usr/bin/python3", "-c", _CLIENT, path]
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                        cwd="/")
    if cp.returncode != 0:
        raise LabError(f"{cmd[:8]} failed ({cp.returncode}): {cp.stderr}")
    return json.loads(cp.stdout.strip().splitlines()[-1])


class TempGroup:
    """A group added for one test (groupadd) and removed by close()."""

    def __init__(self, name: str):
        self.name = name
        run(["groupadd", name], timeout=20)
        self.gid = grp.getgrnam(name).gr_gid

    def close(self):
        run(["groupdel", self.name], check=False, timeout=20)


def open_socket_dir(prefix: str) -> Path:
    """A directory others may traverse (0755), so that who may connect is
    decided by the socket file's mode and the credentials check alone."""
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)
    return d


# --------------------------------------------------------------------------
# hugepages


def free_hugepages() -> int:
    try:
        return int(Path("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages").read_text())
    except (OSError, ValueError):
        return 0


def hugetlbfs_mounted() -> bool:
    """A hugetlbfs is mounted where this process sees it (/proc/self/mounts
    lists only the mounts under its root: a chroot sees its own)."""
    try:
        return any(len(f) > 2 and f[2] == "hugetlbfs"
                   for f in (line.split() for line in Path("/proc/self/mounts").read_text().splitlines()))
    except OSError:
        return False


def ensure_hugepages(pages: int) -> int:
    """Free 2 MB pages, reserving more (and mounting hugetlbfs) with
    tests/lab/hugepages.sh when too few are free or none is mounted: pages
    reserved by someone else are no use to EAL without a mount. It never
    fails: the caller decides what too few means; no mount counts as none."""
    if free_hugepages() < pages or not hugetlbfs_mounted():
        total = int(Path("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages").read_text() or 0)
        want = total if free_hugepages() >= pages else total + pages
        run(["bash", str(HUGEPAGES_SH), str(want)], check=False, timeout=60)
    return free_hugepages() if hugetlbfs_mounted() else 0


class HugepageLab(Lab):
    """A Lab whose data plane runs on hugepages instead of --no-huge, so
    that secondary processes with its --file-prefix (dpdk-dumpcap,
    dpdk-pdump, dpdk-proc-info) can map its memory. Memory is taken as
    needed (no -m); the hugepage files are removed on close()."""

    def eal_args(self) -> list[str]:
        args = super().eal_args()
        if "--no-huge" in args:
            i = args.index("--no-huge")
            del args[i]
            if args[i] == "-m":
                del args[i:i + 2]
        return args

    def close(self):
        super().close()
        for f in HUGEPAGE_DIR.glob(f"{self.file_prefix}map_*"):
            try:
                f.unlink()
            except OSError:
                pass
