"""Signals: a SIGHUP storm under traffic leaves forwarding and DPDK telemetry
working; signals sent during start-up are kept until the agent's loop runs;
SIGTERM while telemetry is being queried exits cleanly."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import pytest

import lab

STORM_SIGNALS = 300
STORM_ROUND = 20          # SIGHUPs sent back to back, then wait for a reload
BAD_OUTPUT = re.compile(r"(?i)telemetry thread quitting|EINTR|interrupted system call")


class _Querier(threading.Thread):
    """A telemetry client asking `command` over one connection until told to
    stop, the connection fails, or `limit` answers; records what went wrong."""

    def __init__(self, file_prefix: str, command: str, limit: int = 200_000):
        super().__init__(daemon=True)
        self.file_prefix, self.command, self.limit = file_prefix, command, limit
        self.answers = 0
        self.error: str | None = None
        self.halt = threading.Event()
        self.connected = threading.Event()

    def run(self):
        try:
            with lab.connect_telemetry(self.file_prefix) as t:
                self.connected.set()
                for _ in range(self.limit):
                    if self.halt.is_set():
                        return
                    reply = t.cmd(self.command)
                    if not isinstance(reply, dict):
                        raise lab.LabError(f"{self.command} answered {reply!r}")
                    self.answers += 1
        except (OSError, ValueError, lab.LabError) as e:
            self.error = repr(e)
        finally:
            self.connected.set()

    def finish(self, timeout: float = 30):
        self.halt.set()
        self.join(timeout)
        assert not self.is_alive(), f"telemetry client on {self.command} did not finish"


def _threads_taking_signals(pid: int) -> list[str]:
    """Threads of pid that do not block SIGHUP, SIGINT and SIGTERM (any such
    thread may be picked to run a process-directed signal and be interrupted),
    and a note if SIGPIPE is not ignored."""
    want = (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)
    bad = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        try:
            status = (task / "status").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)", status, re.M).group(1), 16)
        name = re.search(r"^Name:\s*(.*)$", status, re.M).group(1)
        missing = [sig.name for sig in want if not (blocked >> (sig - 1)) & 1]
        if missing:
            bad.append(f"thread {task.name} ({name}) takes {', '.join(missing)}")
    ignored = int(re.search(r"^SigIgn:\s*([0-9a-f]+)",
                            Path(f"/proc/{pid}/status").read_text(), re.M).group(1), 16)
    if not (ignored >> (signal.SIGPIPE - 1)) & 1:
        bad.append("SIGPIPE is not ignored")
    return bad


def _ping_summary(p: lab.Proc) -> tuple[int, int, str]:
    out = p.output()
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    assert m, f"no ping summary:\n{out}"
    return int(m.group(1)), int(m.group(2)), out


def test_sighup_storm_under_traffic(router3):
    # --stats-interval: the stats thread is one more thread a signal could hit.
    r = router3("h", hosts=2, stats_interval=1)
    a, b = r.hosts["a"], r.hosts["b"]
    for dst in (b.v4, b.v6):
        assert lab.ping(a, dst, count=2)["loss"] == 0, r.describe()
    with lab.connect_telemetry(r.file_prefix, alive=r.dp.alive) as t:
        v0 = t.cmd("/sluice/config")["version"]
    start = r.dp.line_count()

    # Traffic through the router for the whole storm: a ping flood, bounded
    # in count and time (stopped with SIGINT once the storm is over).
    b_rx0 = b.ns.link_stats(b.ifname)["rx_packets"]
    flood = a.ns.popen(["ping", "-4", "-n", "-q", "-f", "-c", "1000000", "-w", "300", b.v4])
    lab.wait_until(lambda: b.ns.link_stats(b.ifname)["rx_packets"] - b_rx0 >= 200, timeout=20,
                   what="the ping flood reaching host b")
    # A telemetry client connected across the storm, asking all the time.
    querier = _Querier(r.file_prefix, "/sluice/config")
    querier.start()
    assert querier.connected.wait(20) and querier.error is None, \
        f"telemetry client did not connect: {querier.error}" + r.describe()
    # Every thread now running (EAL's, telemetry's listener and this client's
    # handler, the worker, the stats thread) leaves these signals to the agent.
    takers = _threads_taking_signals(r.dp.pid)
    assert not takers, "\n".join(takers)

    sent = 0
    try:
        while sent < STORM_SIGNALS:
            mark = r.dp.line_count()
            for _ in range(STORM_ROUND):
                os.kill(r.dp.pid, signal.SIGHUP)
                sent += 1
            # Let reloads run between rounds, so signals keep landing while
            # the agent is busy; a reload after the round's first SIGHUP comes.
            r.dp.wait_line(r"reload: (applied|rejected)", timeout=30, start=mark)
    finally:
        querier.finish()
        flood.stop(sig=signal.SIGINT, timeout=10)

    r.assert_alive()
    storm_out = "\n".join(r.output().splitlines()[start:])
    bad = [ln for ln in storm_out.splitlines() if BAD_OUTPUT.search(ln)]
    assert not bad, "errors during the storm:\n" + "\n".join(bad) + r.describe()
    assert "reload: rejected" not in storm_out, storm_out[-3000:]
    assert querier.error is None and querier.answers > 0, \
        f"telemetry client during the storm: {querier.answers} answers, error {querier.error}" \
        + r.describe()

    # Traffic flowed through the storm and still flows.
    _, frecv, fout = _ping_summary(flood)
    assert frecv > 0, f"the flood got no replies during the storm:\n{fout}" + r.describe()
    for dst in (b.v4, b.v6):
        res = lab.ping(a, dst, count=5, interval=0.1)
        assert res["loss"] == 0, f"after the storm, ping {dst}: {res['out']}" + r.describe()

    # A new telemetry connection is accepted and answers; reloads happened.
    try:
        with lab.Telemetry(r.file_prefix) as t:
            cfg = t.cmd("/sluice/config")
    except (OSError, ValueError) as e:
        pytest.fail(f"new telemetry connection after {sent} SIGHUPs failed: {e!r}" + r.describe())
    assert isinstance(cfg, dict) and cfg.get("version", 0) > v0, \
        f"/sluice/config version {v0} -> {cfg}" + r.describe()
    assert cfg.get("source") == str(r.config_path), cfg

    # SIGTERM while a client keeps asking: shutdown waits for callbacks in
    # flight, then exits 0 with final counters.
    hammer = _Querier(r.file_prefix, "/sluice/workers")
    hammer.start()
    assert hammer.connected.wait(20) and hammer.error is None, hammer.error
    lab.wait_until(lambda: hammer.answers >= 10 or not hammer.is_alive(), timeout=20,
                   what="answers to /sluice/workers")
    rc = r.dp.stop(sig=signal.SIGTERM, timeout=30)
    hammer.finish()
    out = r.output()
    assert rc == 0, f"sluice-dp exited with {rc} on SIGTERM" + r.describe()
    tail = out[out.rfind("sluice-dp: stopping"):]
    assert "final counters" in tail, r.describe()
    assert re.search(r"mbufs leaked: 0\b", tail), r.describe()
    bad = [ln for ln in out.splitlines() if BAD_OUTPUT.search(ln)]
    assert not bad, "\n".join(bad)


# -- signals during start-up ---------------------------------------------------
#
# The config file is a FIFO: sluice-dp blocks in open() reading it, after
# rte_eal_init, i.e. at a known point of its start-up, until the test writes
# the config. A writer's non-blocking open succeeds once the reader is there.


def _start_on_fifo(request, binary, tag: str) -> tuple[lab.Lab, str]:
    the_lab = lab.Lab(tag=tag, hosts=1, binary=binary)
    request.addfinalizer(the_lab.close)
    text = lab.render_config(the_lab.topo, control=the_lab.control)
    os.mkfifo(the_lab.config_path)
    cmd = [str(the_lab.binary), *the_lab.eal_args(), "--", "--config", str(the_lab.config_path)]
    the_lab.dp = lab.Proc(cmd, log=the_lab.log_path)
    return the_lab, text


def _wait_for_reader(the_lab: lab.Lab, what: str) -> int:
    """Waits until sluice-dp has its config FIFO open for reading (it then
    blocks until a writer comes); returns the write end, not yet written."""
    def open_writer():
        try:
            return os.open(the_lab.config_path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            if not the_lab.dp.alive():
                raise lab.LabError("sluice-dp exited") from None
            return None

    try:
        return lab.wait_until(open_writer, timeout=60, interval=0.05, what=what)
    except lab.LabError as e:
        pytest.fail(f"{e}{the_lab.describe()}", pytrace=False)


def _write_and_close(fd: int, text: str):
    try:
        os.set_blocking(fd, True)
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _signals_then_config(the_lab: lab.Lab, text: str, sig: int, count: int):
    fd = _wait_for_reader(the_lab, "sluice-dp to read its config at start-up")
    # sluice-dp is inside its start-up now (past rte_eal_init, before the
    # agent's loop): without the mask, the first of these would end it.
    for _ in range(count):
        os.kill(the_lab.dp.pid, sig)
    _write_and_close(fd, text)


def test_sighup_during_startup_is_one_reload(request, dp_binary):
    r, text = _start_on_fifo(request, dp_binary, "u")
    _signals_then_config(r, text, signal.SIGHUP, 50)
    r.dp.wait_line(r"sluice-dp: ready", timeout=60)
    # The agent's first pass reloads, which reads the FIFO once more.
    fd = _wait_for_reader(r, "the reload asked for during start-up")
    _write_and_close(fd, text)
    r.dp.wait_line(r"reload: applied config version 2", timeout=30)
    with lab.connect_telemetry(r.file_prefix, alive=r.dp.alive) as t:
        assert t.cmd("/sluice/config").get("version") == 2
    rc = r.dp.stop(sig=signal.SIGTERM, timeout=30)
    out = r.output()
    assert rc == 0, f"sluice-dp exited with {rc} on SIGTERM" + r.describe()
    # 50 SIGHUPs while the process could not take them are one pending reload.
    reloads = re.findall(r"reload: \w+", out)
    assert reloads == ["reload: applied"], reloads


def test_sigterm_during_startup_stops_cleanly(request, dp_binary):
    r, text = _start_on_fifo(request, dp_binary, "v")
    _signals_then_config(r, text, signal.SIGTERM, 3)
    try:
        rc = r.dp.p.wait(timeout=60)
    except Exception:  # noqa: BLE001 - reported below
        rc = None
    out = r.output()
    assert rc == 0, f"sluice-dp exited with {rc} after SIGTERM during start-up" + r.describe()
    assert "final counters" in out and re.search(r"mbufs leaked: 0\b", out), r.describe()
    assert "reload:" not in out, r.describe()
