"""The data plane's control channel under hostile and unauthorised peers
(docs/control-protocol.md, "Transport and access", "Framing", "Envelope"):

- the socket file is 0600 (0660 with control.group) and a client of another
  uid is refused by the filesystem at connect (EACCES);
- with control.group set, a client that has the group only as a
  supplementary group passes the filesystem check but not the SO_PEERCRED
  check (one not_permitted error, then the connection is closed), while a
  client whose primary group it is is served;
- thousands of broken messages (truncated frames, lengths 0 and above the
  limit, unknown versions, random bytes, random JSON, valid envelopes with
  wrong fields) each get their error (closing the connection where the
  protocol says so) while the data plane keeps forwarding: pings through
  it before, during and after, counters that add up, the process alive; a
  valid hello, show status and sync work afterwards.
"""

from __future__ import annotations

import errno
import grp
import json
import os
import random
import re
import shutil
import socket
import stat
import struct
import time

import pytest

import lab
from channel_lab import NOBODY, Channel, TempGroup, client_as, frame, open_socket_dir, request, result
from conftest import start_lab

MAX_MESSAGE = 65536  # control.max_message of these labs: "above the limit" is cheap to send


def _make(request_, tag: str, *, hosts: int, group: str | None = None, binary=None) -> lab.Lab:
    sockdir = open_socket_dir(f"{lab.RUN_PREFIX}-{tag}-sock-")
    request_.addfinalizer(lambda: shutil.rmtree(sockdir, ignore_errors=True))
    the_lab = lab.Lab(tag=tag, hosts=hosts, binary=binary)
    the_lab.control["socket"] = str(sockdir / "dataplane.sock")
    the_lab.control["max_message"] = MAX_MESSAGE
    if group:
        the_lab.control["group"] = group
    return start_lab(request_, the_lab)


@pytest.fixture(scope="module")
def router(request, dp_binary) -> lab.Lab:
    return _make(request, "cs", hosts=2, binary=dp_binary)


def sock_path(r: lab.Lab) -> str:
    return r.control["socket"]


def error_code(reply: dict | None) -> str | None:
    if not reply or reply.get("ok") is not False:
        return None
    return reply.get("error", {}).get("code")


def test_socket_is_0600_and_another_uid_is_refused_at_connect(router):
    st = os.stat(sock_path(router))
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    assert st.st_uid == 0
    got = client_as(sock_path(router), uid=NOBODY, gid=NOBODY)
    assert got.get("connect_errno") == errno.EACCES, got
    # Root is served.
    with Channel(sock_path(router)) as c:
        hello = result(c.call("hello", {"client": "test"}))
        assert hello["server"] == "sluice-dp"
        assert len(hello["instance"]) == 16
        assert hello["ports"] == ["a", "b"]


def test_group_member_by_supplementary_group_only_is_not_permitted(request, dp_binary):
    name = f"slt{os.getpid() % 100000}chan"
    try:
        g = TempGroup(name)
    except lab.LabError as e:
        pytest.skip(f"cannot add a group here: {e}")
    request.addfinalizer(g.close)
    r = _make(request, "cg", hosts=1, group=name, binary=dp_binary)
    path = sock_path(r)
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert st.st_gid == g.gid, (st.st_gid, g.gid)
    assert grp.getgrgid(st.st_gid).gr_name == name

    # In the group only as a supplementary group: the file's group bits let
    # it connect, SO_PEERCRED (the primary group) refuses it.
    sup = client_as(path, uid=NOBODY, gid=NOBODY, groups=[g.gid])
    assert "connect_errno" not in sup, sup
    assert g.gid in sup["groups"] and sup["gid"] == NOBODY, sup
    assert error_code(sup["reply"]) == "not_permitted", sup
    assert sup["closed"], sup

    # Its primary group: served.
    prim = client_as(path, uid=NOBODY, gid=g.gid)
    assert prim["reply"] and prim["reply"]["ok"], prim
    assert prim["reply"]["result"]["server"] == "sluice-dp"

    # Neither: the filesystem refuses.
    none = client_as(path, uid=NOBODY, gid=NOBODY)
    assert none.get("connect_errno") == errno.EACCES, none
    assert r.dp.alive()
    assert "refused pid" in r.output()


# ---- the flood ----------------------------------------------------------------

def _closing_cases(rng: random.Random, n: int) -> list[tuple[str, bytes, set[str] | None]]:
    """(kind, bytes, expected codes) for messages that end their connection.
    Expected None: no reply (the frame never completes)."""
    out = []
    hello = frame(request("hello", {"client": "flood"}))
    for i in range(n):
        k = i % 9
        if k == 0:  # truncated: announces more than it sends, then the peer stops
            body = request("hello")
            out.append(("truncated", struct.pack(">I", len(body) + 50) + body, None))
        elif k == 1:
            out.append(("zero length", struct.pack(">I", 0), {"bad_frame"}))
        elif k == 2:
            out.append(("above the limit",
                        struct.pack(">I", rng.randint(MAX_MESSAGE + 1, 0xFFFFFFFF)) + b"x" * rng.randint(0, 64),
                        {"too_large"}))
        elif k == 3:
            v = rng.choice([0, 2, 3, 99, -1, 1.5, "1", None, [1]])
            out.append(("unknown version", frame(json.dumps({"v": v, "id": i, "type": "hello"}).encode()),
                        {"bad_version", "malformed"}))
        elif k == 4:
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
            out.append(("random bytes", frame(body), {"malformed"}))
        elif k == 5:
            val = rng.choice([rng.randint(-10**9, 10**9), [1, "x", None], "text", None, True,
                              {"x": rng.random()}, {"v": 1}, {"v": 1, "id": "7"}, {"id": 3, "type": "hello"},
                              {"v": 1, "id": 2, "type": 7}, {"v": 1, "id": 2, "type": "hello", "args": [1]}])
            out.append(("random json", frame(json.dumps(val).encode()), {"malformed"}))
        elif k == 6:  # a valid request before hello
            out.append(("before hello", frame(request("show", {"what": "status"})), {"not_permitted"}))
        elif k == 7:  # an unknown type after hello
            out.append(("unknown type", hello + frame(request(rng.choice(["frob", "", "HELLO", "show "]), id_=2)),
                        {"unknown_type"}))
        else:  # deeply nested JSON
            depth = rng.randint(65, 3000)
            out.append(("nested", frame(b"[" * depth + b"]" * depth), {"malformed"}))
    return out


def _wrong_fields(rng: random.Random, n: int) -> list[tuple[dict, str]]:
    """Valid envelopes whose arguments are wrong: bad_field, connection kept."""
    cases = [
        ("show", {}), ("show", {"what": 5}), ("show", {"what": "everything"}),
        ("show", {"what": "routes", "limit": -1}), ("show", {"what": "routes", "limit": 10**9}),
        ("show", {"what": "routes", "prefix": "not a prefix"}), ("show", {"what": "backends"}),
        ("show", {"what": "backends", "vip": "nope"}), ("show", {"what": "which", "protocol": "icmp"}),
        ("show", {"what": "neighbors", "offset": "x"}), ("show", {"what": "status", "x": 1}),
        ("sync_begin", {}), ("sync_begin", {"generation": "1"}), ("sync_part", {"routes": []}),
        ("sync_commit", {"generation": 1}), ("apply", {}), ("apply", {"generation": -3}),
        ("apply", {"generation": 1, "routes": [{"op": "set", "prefix": "198.18.0.0/24"}]}),
        ("apply", {"generation": 1, "routes": [{"op": "set", "prefix": "198.18.0.1/24",
                                                 "nexthops": [{"port": "a"}]}]}),
        ("apply", {"generation": 1, "vips": [{"op": "set", "vip": {"name": "x"}}]}),
        ("apply", {"generation": 1, "neighbors": [{"op": "set", "port": "a", "address": "198.18.1.9",
                                                    "mac": "zz"}]}),
        ("apply", {"generation": 1, "bogus": []}), ("reload", {"now": True}),
        ("hello", {"client": 5}),
    ]
    return [(cases[rng.randrange(len(cases))]) for _ in range(n)]


def _counters_add_up(c: dict):
    for core, k in c["workers"].items():
        if core == "agent":
            assert k["punted_in"] == k["handled"] + k["dropped"] + k["pending"], (core, k)
        else:
            assert k["rx"] == k["forwarded"] + k["punted"] + k["dropped"], (core, k)


def test_thousands_of_broken_messages_leave_it_forwarding(router):
    a, b = router.hosts["a"], router.hosts["b"]
    before = lab.ping(a, b.v4, count=5, interval=0.05)
    assert before["received"] == 5, before["out"]
    drops0 = router.drops()
    lines0 = router.dp.line_count()
    path = sock_path(router)

    # Forwarding while the flood goes on: one ping every 20 ms.
    pinger = a.ns.popen(["ping", "-n", "-i", "0.02", "-W", "1", "-w", "600", b.v4])
    rng = random.Random(20261201)
    counts: dict[str, int] = {}
    t0 = time.monotonic()
    for kind, data, expect in _closing_cases(rng, 2700):
        with Channel(path) as c:
            try:
                c.send_raw(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # it may close before reading all of an oversized "frame"
            if expect is None:
                c.sock.shutdown(socket.SHUT_WR)
                assert c.closed(), f"{kind}: the data plane kept a connection whose peer stopped mid-frame"
            else:
                replies = []
                while True:
                    r = c.recv()
                    if r is None:
                        break
                    replies.append(r)
                assert replies, f"{kind}: no reply to {data[:80]!r}"
                last = replies[-1]
                assert error_code(last) in expect, f"{kind}: {last} to {data[:80]!r}"
                # closed: recv() returned None above
        counts[kind] = counts.get(kind, 0) + 1

    # Non-closing errors: many on a few connections, each answered, the
    # connection kept.
    for _ in range(4):
        with Channel(path) as c:
            result(c.call("hello", {"client": "flood"}))
            for type_, args in _wrong_fields(rng, 500):
                r = c.call(type_, args)
                assert error_code(r) == "bad_field", (type_, args, r)
                assert r["error"]["field"].startswith("args") or r["error"]["field"] == "type", r
                counts["wrong fields"] = counts.get("wrong fields", 0) + 1
            assert result(c.call("show", {"what": "drops"}))["drops"]
    flood_s = time.monotonic() - t0
    pinger.stop(sig=2, timeout=10)
    out = pinger.output()
    m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
    assert m, out[-500:]
    sent, got = int(m.group(1)), int(m.group(2))
    assert sent >= 20 and got >= sent - 1, f"pings during the flood ({flood_s:.1f} s): {got}/{sent}\n{out[-800:]}"
    assert sum(counts.values()) >= 4700, counts

    router.assert_alive()
    after = lab.ping(a, b.v4, count=5, interval=0.05)
    assert after["received"] == 5, after["out"]
    after6 = lab.ping(a, b.v6, count=3, interval=0.05)
    assert after6["received"] == 3, after6["out"]
    c = router.wait_quiescent()
    _counters_add_up(c)
    # No packet was dropped on the channel's account (the channel touches
    # no packet): only the reasons the pings and the hosts' own traffic
    # can raise may have moved.
    moved = {k: v - drops0.get(k, 0) for k, v in c["drops"].items() if v != drops0.get(k, 0)}
    assert set(moved) <= {"local_unsupported", "ipv6_multicast", "l2_not_for_us", "arp_not_for_us"}, moved
    # The log is rate limited: a flood does not flood the log.
    assert router.dp.line_count() - lines0 < 200, router.tail(50)

    # A valid session afterwards.
    with Channel(path) as ch:
        hello = result(ch.call("hello", {"client": "sluice-control"}))
        st = result(ch.call("show", {"what": "status"}))
        assert st["instance"] == hello["instance"]
        assert st["control"]["connected"] is True
        assert st["control"]["connections"] == 1, st["control"]
        assert st["owner"] == "file"


def test_a_sync_after_the_flood_owns_the_tables(router):
    """sync_commit, show routes, ownership across a reload, stale
    generations, and /sluice/control, on the same data plane."""
    a, b = router.hosts["a"], router.hosts["b"]
    path = sock_path(router)
    with Channel(path) as c:
        hello = result(c.call("hello", {"client": "sluice-control"}))
        gen = hello["generation"] + 1
        result(c.call("sync_begin", {"generation": gen}))
        result(c.call("sync_part", {"routes": [{"prefix": "198.19.7.0/24", "nexthops": [{"via": b.v4}]}]}))
        res = result(c.call("sync_commit", {"generation": gen}))
        assert res["applied"] and res["changes"]["routes"] == 1, res
        routes = result(c.call("show", {"what": "routes"}))
        assert routes["routes"] == [{"prefix": "198.19.7.0/24", "nexthops": [{"via": b.v4, "port": "b"}]}], routes
        hit = result(c.call("show", {"what": "routes", "lookup": "198.19.7.77"}))
        assert hit["routes"][0]["prefix"] == "198.19.7.0/24"
        # The same sync again changes nothing.
        result(c.call("sync_begin", {"generation": gen}))
        result(c.call("sync_part", {"routes": [{"prefix": "198.19.7.0/24", "nexthops": [{"via": b.v4}]}]}))
        same = result(c.call("sync_commit", {"generation": gen}))
        assert same["changes"] == {"routes": 0, "neighbors": 0, "vips": 0}, same
        # Older generations are refused.
        r = c.call("apply", {"generation": gen - 1, "routes": [{"op": "del", "prefix": "198.19.7.0/24"}]})
        assert error_code(r) == "stale_generation", r
        # A refused commit changes nothing and names the item.
        result(c.call("sync_begin", {"generation": gen + 1}))
        result(c.call("sync_part", {"routes": [{"prefix": "198.19.8.0/24", "nexthops": [{"via": "198.18.9.9"}]}]}))
        r = c.call("sync_commit", {"generation": gen + 1})
        assert error_code(r) == "rejected", r
        assert r["error"]["errors"][0]["what"] == "routes[0].nexthops[0].via", r

        tele = router.tele("/sluice/control")
        assert tele["connected"] == 1 and tele["owner"] == "control" and tele["generation"] == gen, tele
        # A reload now applies only settings and addresses.
        rel = result(c.call("reload"))
        assert rel["applied"] and rel["owner"] == "control", rel
        assert "settings and addresses only" in rel["summary"], rel
        routes = result(c.call("show", {"what": "routes"}))
        assert routes["total"] == 1, routes
    assert "reload: applied config version" in router.output()
    tele = lab.wait_value(lambda: router.tele("/sluice/control"), lambda t: t["connected"] == 0, timeout=5,
                          what="/sluice/control after the control session closed")
    assert tele["forwarding_on_last_state"] == 1, tele
    ping = lab.ping(a, b.v4, count=3, interval=0.05)
    assert ping["received"] == 3, ping["out"]


def test_shutdown_removes_the_socket(router):
    """Last in this module: stops its data plane."""
    path = sock_path(router)
    assert os.path.exists(path)
    rc = router.dp.stop(timeout=20)
    assert rc == 0, router.describe()
    assert not os.path.exists(path), "the socket file outlived the data plane"
    out = router.output()
    assert "sluice-dp: mbufs leaked: 0" in out, router.tail(30)
    # The final counters say how the control session ended.
    assert "control: disconnected" in out and "forwarding on its last state" in out, router.tail(40)
